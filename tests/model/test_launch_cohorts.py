"""Launch cohorts (model/cohorts.py): who starts at a platform's launch, when, and when their
acts stop being paid; the same rule in both engines; off unless ``launch_cohort_scale`` > 0."""

import dataclasses
import datetime as dt
import shutil

import numpy as np
import pandas as pd
import pytest

from model import Levers, Uncertainties, simulate
from model.calendar import first_week_in_force, parse_end
from model.cohorts import launch_cohorts
from model.inputs import DEFAULT_DATA_DIR, InputDataError, load_inputs
from model.model import TeleModel
from model.population import build_population
from model.reference import ReferenceModel
from model.synthetic import synthetic_inputs

ON = {"launch_cohort_scale": 1.0, "launch_awareness_weeks": 13.0}


def _idf_inputs():
    """A small Île-de-France-coded region with every doctor type (the cohorts' region)."""
    return synthetic_inputs(doctors=(60, 30, 12, 5), persons=3_000, region_code="11")


def _unc(**changes):
    return Uncertainties(
        external_rate_urban=0.05,
        q_imitation=0.5,
        open_share_urban=0.3,
        awareness_media=1.0,
        awareness_doctor=5.0,
        **changes,
    )


def _model(inputs, unc, seed=1, end="2019-06-30", levers=None, engine=TeleModel):
    if engine is ReferenceModel:
        return ReferenceModel(inputs, unc, levers or Levers(), seed, parse_end(end))
    pop = build_population(inputs, 1, seed)
    return TeleModel(inputs, pop, unc, levers or Levers(), seed, parse_end(end))


def test_default_data_has_the_three_sourced_cohorts():
    table = load_inputs().launch_cohorts
    assert table.cohort.tolist() == ["livi_creteil", "doctolib_test", "hellocare_connect"]
    assert table.doctors.tolist() == [20, 100, 120]
    assert table.billing_until.tolist()[0] == dt.date(2019, 1, 31)
    assert all(s.startswith("http") for s in table.source)


def test_off_by_default_and_then_the_awareness_head_start_changes_nothing():
    assert Uncertainties().launch_cohort_scale == 0.0
    inputs = _idf_inputs()
    a = simulate(_unc(), seed=3, scale=1, inputs=inputs, end="2019-06-30")
    b = simulate(
        _unc(launch_awareness_weeks=80.0), seed=3, scale=1, inputs=inputs, end="2019-06-30"
    )
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("engine", [TeleModel, ReferenceModel])
def test_cohorts_adopt_at_once_with_their_platform_and_head_start(engine):
    inputs = _idf_inputs()
    m = _model(inputs, _unc(**ON), engine=engine)
    d = m.pop.doctors
    cohorts = {c.name: c for c in m._cohorts}
    assert set(cohorts) == {"livi_creteil", "doctolib_test", "hellocare_connect"}
    assert cohorts["livi_creteil"].start_week == 0
    assert cohorts["doctolib_test"].start_week == first_week_in_force(dt.date(2019, 1, 13))

    def state(name):
        if engine is TeleModel:
            return getattr(m, name).copy()
        return np.array([getattr(doc, name) for doc in m.doctors])

    platform_at_start = {}
    while m.week < m.n_weeks:
        m.step()
        for name, c in cohorts.items():
            if m.week - 1 == c.start_week:
                platform_at_start[name] = state("platform")
    adopted, week = state("adopted"), state("adopted_week")
    for name, c in cohorts.items():
        chosen = m._cohort_members[name]
        # as many as asked, or every eligible doctor not adopted by then
        assert 0 < chosen.size <= c.size
        assert c.eligible[chosen].all() and adopted[chosen].all()
        assert (week[chosen] == c.start_week - 13).all()
        # on the cohort's platform (a Doctolib client may move to Doctolib later, as any other)
        assert (platform_at_start[name][chosen] == c.platform).all()
    health_centre = 2
    assert (d.kind[m._cohort_members["livi_creteil"]] == health_centre).all()
    assert m.client[m._cohort_members["doctolib_test"]].all()


def test_week_zero_cohort_is_the_same_doctors_in_both_engines():
    inputs = _idf_inputs()
    unc = _unc(**ON)
    engine = _model(inputs, unc, end="2018-10-31")
    reference = _model(inputs, unc, end="2018-10-31", engine=ReferenceModel)
    engine.step()
    reference.step()
    np.testing.assert_array_equal(
        engine._cohort_members["livi_creteil"], reference._cohort_members["livi_creteil"]
    )
    # the most open health-centre doctors
    d = engine.pop.doctors
    chosen = engine._cohort_members["livi_creteil"]
    others = np.setdiff1d(np.flatnonzero(d.kind == 2), chosen)
    assert others.size == 0 or d.open_u[chosen].max() <= d.open_u[others].min()


def _health_centre_acts(inputs, unc):
    """Weekly acts of health-centre doctors; the region's 12 are all in Livi's cohort (20)."""
    m = _model(inputs, unc, end="2019-04-30")
    while m.week < m.n_weeks:
        m.step()
    assert m._cohort_members["livi_creteil"].size == 12
    return m.out_acts_type[:, 2]


def test_a_cohort_whose_acts_stop_being_paid_bills_nothing_after(tmp_path):
    unc = _unc(**ON, choice_level=0.0)
    end_week = first_week_in_force(dt.date(2019, 2, 1))
    acts = _health_centre_acts(_idf_inputs(), unc)
    assert acts[:end_week].sum() > 0
    assert acts[end_week:].sum() == 0

    # without the end date the same cohort keeps billing
    folder = tmp_path / "data"
    shutil.copytree(DEFAULT_DATA_DIR, folder)
    table = pd.read_csv(folder / "launch_cohorts.csv", dtype=str, keep_default_na=False)
    table.loc[table.cohort == "livi_creteil", "billing_until"] = ""
    table.to_csv(folder / "launch_cohorts.csv", index=False)
    open_ended = dataclasses.replace(
        _idf_inputs(), launch_cohorts=load_inputs(folder).launch_cohorts
    )
    assert _health_centre_acts(open_ended, unc)[end_week:].sum() > 0


def test_doctolib_cohort_follows_the_doctolib_levers():
    inputs = _idf_inputs()
    d = build_population(inputs, 1, 1).doctors
    client = np.ones(d.n, dtype=bool)
    names = lambda levers: {  # noqa: E731
        c.name: c.start_week
        for c in launch_cohorts(inputs, d.kind, d.region, client, levers, _unc(**ON))
    }
    assert "doctolib_test" not in names(Levers(doctolib=False))
    earlier = Levers(doctolib_launch=dt.date(2018, 10, 1))
    assert names(earlier)["doctolib_test"] == first_week_in_force(dt.date(2018, 10, 1))
    # the scale multiplies the sourced counts; 0 turns every cohort off
    sizes = {
        c.name: c.size
        for c in launch_cohorts(
            inputs, d.kind, d.region, client, Levers(), _unc(launch_cohort_scale=0.5)
        )
    }
    assert sizes == {"livi_creteil": 10, "doctolib_test": 50, "hellocare_connect": 60}
    assert launch_cohorts(inputs, d.kind, d.region, client, Levers(), _unc()) == []


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("platform", "zoom", "column platform"),
        ("doctor_type", "nurse", "column doctor_type"),
        ("region_code", "99", "column region_code"),
        ("doctors", "-3", "column doctors"),
        ("doctors", "2.5", "column doctors"),
        ("clients_only", "maybe", "column clients_only"),
        ("billing_until", "2018-01-01", "column billing_until"),
    ],
)
def test_bad_rows_name_the_file_row_and_column(tmp_path, column, value, message):
    folder = tmp_path / "data"
    shutil.copytree(DEFAULT_DATA_DIR, folder)
    table = pd.read_csv(folder / "launch_cohorts.csv", dtype=str, keep_default_na=False)
    table.loc[0, column] = value
    table.to_csv(folder / "launch_cohorts.csv", index=False)
    with pytest.raises(InputDataError, match=f"launch_cohorts.csv: row livi_creteil, {message}"):
        load_inputs(folder)


def test_a_folder_without_the_file_has_no_cohorts(tmp_path):
    folder = tmp_path / "data"
    shutil.copytree(DEFAULT_DATA_DIR, folder)
    (folder / "launch_cohorts.csv").unlink()
    assert load_inputs(folder).launch_cohorts.empty
