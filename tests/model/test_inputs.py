"""The input data files load, hold together, and bad copies fail loudly with a clear message."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from model.inputs import (
    AGE_BANDS,
    DEFAULT_DATA_DIR,
    DOCTOR_TYPES,
    REQUIRED_CONSTANTS,
    REQUIRED_EVENTS,
    InputDataError,
    Inputs,
    load_inputs,
)

METRO_ORDER = ["11", "24", "27", "28", "32", "44", "52", "53", "75", "76", "84", "93", "94"]
OVERSEAS_ORDER = ["01", "02", "03", "04", "06"]


@pytest.fixture(scope="module")
def inputs() -> Inputs:
    return load_inputs()


def test_default_files_load_and_are_cached(inputs):
    assert isinstance(inputs, Inputs)
    assert load_inputs() is inputs
    assert inputs.data_dir == DEFAULT_DATA_DIR.resolve()
    with pytest.raises(AttributeError):
        inputs.constants = {}  # frozen


def test_regions_shape_order_and_types(inputs):
    reg = inputs.regions
    assert inputs.n_regions == 18
    assert list(reg.index) == list(range(18))
    assert reg["region_code"].tolist() == METRO_ORDER + OVERSEAS_ORDER
    assert all(isinstance(c, str) for c in reg["region_code"])
    assert reg["overseas"].dtype == bool
    assert reg["overseas"].tolist() == [False] * 13 + [True] * 5
    assert inputs.age_bands == AGE_BANDS == ("0-19", "20-39", "40-59", "60-74", "75+")
    assert inputs.doctor_types == DOCTOR_TYPES
    assert DOCTOR_TYPES == ("general_practitioner", "specialist", "health_centre", "hospital")


def test_population_and_doctor_arrays(inputs):
    pop = inputs.population_by_age
    docs = inputs.doctors_by_type
    assert pop.shape == (18, 5) and pop.dtype == np.int64
    assert docs.shape == (18, 4) and docs.dtype == np.int64
    assert (pop.sum(axis=1) == inputs.regions["population"].to_numpy()).all()
    assert (docs > 0).all()
    # national totals of each type
    gp, spec, hc, hosp = docs.sum(axis=0)
    assert gp == 55_000
    assert spec == 45_000
    # every region keeps its sourced total; the salaried rest splits 5% / 95%
    raw = pd.read_csv(DEFAULT_DATA_DIR / "doctors.csv", dtype={"region_code": str})
    assert (docs.sum(axis=1) == raw["doctors_all"].to_numpy()).all()
    assert docs.sum() == 226_141
    assert hc == round(0.05 * (docs.sum() - 100_000))
    assert hosp == docs.sum() - 100_000 - hc


def test_doctor_densities_match_the_published_ones(inputs):
    reg = inputs.regions.set_index("region_code")
    dens = reg["doctor_density_per_100k"]
    metro = ~reg["overseas"]
    mean = (dens[metro] * reg["population"][metro]).sum() / reg["population"][metro].sum()
    assert mean == pytest.approx(inputs.constants["metropolitan_density_per_100k"], abs=1.0)
    assert dens["24"] == pytest.approx(265, abs=1.5)  # Centre-Val de Loire (DREES)
    assert dens["93"] == pytest.approx(408, abs=1.5)  # PACA (DREES)
    assert dens["11"] == pytest.approx(395, abs=0.5)  # Île-de-France (Insee, derived)


def test_liberal_doctors_follow_each_region_s_gps_and_specialists(inputs):
    reg = inputs.regions.set_index("region_code")
    raw = pd.read_csv(DEFAULT_DATA_DIR / "doctors.csv", dtype={"region_code": str}).set_index(
        "region_code"
    )
    # liberal GPs are shared in proportion to each region's GPs (gaps: the metropolitan GP share)
    overseas = reg["overseas"]
    metro_share = (
        raw.loc[~overseas, "general_practitioners"].sum() / raw.loc[~overseas, "doctors_all"].sum()
    )
    gps = raw["general_practitioners"].fillna(raw["doctors_all"] * metro_share)
    expected = 55_000 * gps["11"] / gps.sum()
    assert abs(reg.loc["11", "doctors_general_practitioner"] - expected) <= 1
    # Île-de-France has more liberal specialists than liberal GPs (250 specialists per 100,000)
    assert reg.loc["11", "doctors_specialist"] > reg.loc["11", "doctors_general_practitioner"]


def test_constants_events_platforms(inputs):
    c = inputs.constants
    for name in REQUIRED_CONSTANTS:
        assert np.isfinite(c[name])
    assert c["consultations_per_year_liberal"] == 350_000_000
    assert c["doctolib_client_share"] == pytest.approx(
        round(70_000 * 0.6 / (55_000 + 45_000 + inputs.doctors_by_type[:, 2].sum()), 3)
    )
    for key in REQUIRED_EVENTS:
        assert isinstance(inputs.events[key], dt.date)
    assert inputs.events["reimbursement_start"] == dt.date(2018, 9, 15)
    assert inputs.events["doctolib_video_launch"] == dt.date(2019, 1, 13)
    assert inputs.events["covid_full_coverage_end"] == dt.date(2021, 12, 31)
    assert len(inputs.event_table) > len(inputs.events)
    plat = inputs.platforms.set_index("platform")
    assert plat.loc["doctolib", "video_launch"] == dt.date(2019, 1, 13)
    assert plat.loc["doctolib", "monthly_price_eur"] == 79
    assert plat.loc["other", "video_launch"] == dt.date(2018, 9, 15)


def test_every_assumption_says_how_it_was_derived():
    const = pd.read_csv(DEFAULT_DATA_DIR / "constants.csv", keep_default_na=False)
    assert set(const["kind"]) <= {"sourced", "derived", "assumption"}
    for _, r in const.iterrows():
        assert r["source"] or r["note"], r["name"]
    reg = pd.read_csv(DEFAULT_DATA_DIR / "regions.csv", dtype=str, keep_default_na=False)
    for col in (
        "population_source",
        "urban_source",
        "ftth_source",
        "underserved_source",
    ):
        assert (reg[col] != "").all(), col
    docs = pd.read_csv(DEFAULT_DATA_DIR / "doctors.csv", dtype=str, keep_default_na=False)
    assert (docs["source"] != "").all()
    # the overseas gaps are flagged where they are
    gaps = docs[docs["general_practitioners"] == ""]
    assert sorted(gaps["region_code"]) == ["01", "02", "03", "06"]
    assert gaps["note"].str.contains("GAP").all()


# --- corrupted copies ----------------------------------------------------------------------------


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "data"
    shutil.copytree(DEFAULT_DATA_DIR, dst)
    return dst


def _edit(path: Path, fn) -> None:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df = fn(df)
    df.to_csv(path, index=False)


def test_copy_loads_like_default(data_copy):
    copy = load_inputs(data_copy)
    assert copy is not load_inputs()
    assert (copy.doctors_by_type == load_inputs().doctors_by_type).all()
    assert copy.data_dir == data_copy.resolve()


def test_age_bands_not_summing(data_copy):
    def fn(df):
        df.loc[df["region_code"] == "28", "pop_75p"] = str(int(df.loc[3, "pop_75p"]) + 1)
        return df

    _edit(data_copy / "regions.csv", fn)
    with pytest.raises(InputDataError, match=r"regions\.csv: row 28, column population.*sum"):
        load_inputs(data_copy)


def test_share_out_of_range(data_copy):
    def fn(df):
        df.loc[df["region_code"] == "44", "urban_share"] = "1.4"
        return df

    _edit(data_copy / "regions.csv", fn)
    with pytest.raises(
        InputDataError, match=r"regions\.csv: row 44, column urban_share: 1\.4 .*\[0, 1\]"
    ):
        load_inputs(data_copy)


def test_constant_share_out_of_range(data_copy):
    def fn(df):
        df.loc[df["name"] == "known_mt_share", "value"] = "1.4"
        return df

    _edit(data_copy / "constants.csv", fn)
    with pytest.raises(InputDataError, match=r"constants\.csv: row known_mt_share.*\[0, 1\]"):
        load_inputs(data_copy)


def test_missing_event_key(data_copy):
    def fn(df):
        df.loc[df["key"] == "phone_end_1", "key"] = ""
        return df

    _edit(data_copy / "events.csv", fn)
    with pytest.raises(InputDataError, match=r"events\.csv: column key: .*phone_end_1"):
        load_inputs(data_copy)


def test_missing_column(data_copy):
    _edit(data_copy / "regions.csv", lambda df: df.drop(columns=["ftth_share"]))
    with pytest.raises(InputDataError, match=r"regions\.csv: missing required column.*ftth_share"):
        load_inputs(data_copy)


def test_bad_date_and_kind(data_copy):
    def fn(df):
        df.loc[df["platform"] == "other", "video_launch"] = "2018-13-40"
        return df

    _edit(data_copy / "platforms.csv", fn)
    with pytest.raises(InputDataError, match=r"platforms\.csv: row other, column video_launch"):
        load_inputs(data_copy)


def test_bad_constant_kind(data_copy):
    def fn(df):
        df.loc[df["name"] == "no_mt_share", "kind"] = "guess"
        return df

    _edit(data_copy / "constants.csv", fn)
    with pytest.raises(InputDataError, match=r"constants\.csv: row no_mt_share, column kind"):
        load_inputs(data_copy)


def test_wrong_region_count(data_copy):
    _edit(data_copy / "regions.csv", lambda df: df.iloc[:-1])
    with pytest.raises(InputDataError, match=r"regions\.csv: 17 region rows, expected exactly 18"):
        load_inputs(data_copy)


def test_doctors_file_inconsistent_or_incomplete(data_copy):
    path = data_copy / "doctors.csv"
    original = path.read_text(encoding="utf-8")

    def gp_above_all(df):
        df.loc[df["region_code"] == "24", "general_practitioners"] = "99999"
        return df

    _edit(path, gp_above_all)
    with pytest.raises(InputDataError, match=r"doctors\.csv: row 24, column general_practitioners"):
        load_inputs(data_copy)
    path.write_text(original, encoding="utf-8")
    _edit(path, lambda df: df[df["region_code"] != "06"])
    with pytest.raises(InputDataError, match=r"doctors\.csv: column region_code: missing \['06'\]"):
        load_inputs(data_copy)


def test_stringency_file_with_a_gap_or_out_of_range(data_copy):
    path = data_copy / "stringency.csv"
    original = path.read_text(encoding="utf-8")
    _edit(path, lambda df: df.drop(index=10))
    with pytest.raises(InputDataError, match=r"stringency\.csv: row 2020-01-12, column date"):
        load_inputs(data_copy)
    path.write_text(original, encoding="utf-8")

    def too_strict(df):
        df.loc[5, "stringency_index"] = "120"
        return df

    _edit(path, too_strict)
    with pytest.raises(InputDataError, match=r"stringency_index: 120.0 is outside .*\[0, 100\]"):
        load_inputs(data_copy)
