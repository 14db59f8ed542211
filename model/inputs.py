"""Fixed, sourced model *inputs*: regions, constants, platforms and dated events.

The files live in ``model/data`` (see its README for the source and derivation of every figure).
A user with better data can copy that folder, change the files (same columns) and pass the folder
to :func:`load_inputs`. Every file is validated on load; a problem raises :class:`InputDataError`,
whose message names the file, the row and the column, and the allowed range.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

#: The five age bands of the population, in the order of ``Inputs.population_by_age`` columns.
AGE_BANDS: tuple[str, ...] = ("0-19", "20-39", "40-59", "60-74", "75+")
#: The four doctor types, in the order of ``Inputs.doctors_by_type`` columns.
DOCTOR_TYPES: tuple[str, ...] = ("general_practitioner", "specialist", "health_centre", "hospital")

DEFAULT_DATA_DIR = Path(__file__).resolve().parent / "data"

REGIONS_FILE = "regions.csv"
CONSTANTS_FILE = "constants.csv"
PLATFORMS_FILE = "platforms.csv"
EVENTS_FILE = "events.csv"
STRINGENCY_FILE = "stringency.csv"
DOCTORS_FILE = "doctors.csv"
LAUNCH_COHORTS_FILE = "launch_cohorts.csv"
LAUNCH_COHORT_COLUMNS: tuple[str, ...] = (
    "cohort",
    "date",
    "platform",
    "doctors",
    "doctor_type",
    "region_code",
    "clients_only",
    "billing_until",
    "kind",
    "source",
    "note",
)
DOCTORS_FILE_COLUMNS: tuple[str, ...] = (
    "region_code",
    "region",
    "doctors_all",
    "general_practitioners",
    "specialists",
    "kind",
    "source",
    "note",
)
STRINGENCY_COLUMNS: tuple[str, ...] = ("date", "stringency_index")

AGE_COLUMNS: tuple[str, ...] = ("pop_0_19", "pop_20_39", "pop_40_59", "pop_60_74", "pop_75p")
DOCTOR_COLUMNS: tuple[str, ...] = tuple(f"doctors_{t}" for t in DOCTOR_TYPES)
SHARE_COLUMNS: tuple[str, ...] = ("urban_share", "ftth_share", "underserved_share")
SOURCE_COLUMNS: tuple[str, ...] = (
    "population_source",
    "urban_source",
    "ftth_source",
    "underserved_source",
)
REGION_COLUMNS: tuple[str, ...] = (
    "region_code",
    "region",
    "overseas",
    "population",
    *AGE_COLUMNS,
    *SHARE_COLUMNS,
    *SOURCE_COLUMNS,
)
#: Columns the loader derives from ``doctors.csv`` and adds to ``Inputs.regions``.
DERIVED_DOCTOR_COLUMNS: tuple[str, ...] = ("doctor_density_per_100k", *DOCTOR_COLUMNS)
N_REGIONS = 18
N_METROPOLITAN = 13
N_OVERSEAS = 5
MAX_DENSITY = 2000.0

CONSTANT_COLUMNS: tuple[str, ...] = ("name", "value", "unit", "kind", "source", "note")
CONSTANT_KINDS: tuple[str, ...] = ("sourced", "derived", "assumption")
#: Constants the model needs; those in SHARE_CONSTANTS must lie in [0, 1].
SHARE_CONSTANTS: tuple[str, ...] = (
    "gp_share_of_consultations",
    "no_mt_share",
    "known_mt_share",
    "known_followup_share",
    "followup_share",
    "referred_share",
    "direct_access_share",
    "under16_share_of_0_19",
    "capable_0_19",
    "capable_20_39",
    "capable_40_59",
    "capable_60_74",
    "capable_75p",
    "hospital_outpatient_share",
    "health_centre_share_of_salaried",
    "doctor_age60_share",
    "group_practice_share",
    "doctolib_doctor_share_of_professionals",
    "doctolib_client_share",
    "coverage_rate_2018",
    "ftth_national",
    "underserved_national",
    "avenant9_activity_cap",
)
REQUIRED_CONSTANTS: tuple[str, ...] = (
    "consultations_per_year_liberal",
    "need_mult_0_19",
    "need_mult_20_39",
    "need_mult_40_59",
    "need_mult_60_74",
    "need_mult_75p",
    "doctolib_professionals_2019_01",
    "tariff_gp_eur",
    "equipment_aid_eur_2019",
    "pharmacy_points_end_2019",
    "pharmacy_catchment_persons",
    "metropolitan_density_per_100k",
    *SHARE_CONSTANTS,
)
#: Constants that must be >= 0 (all required non-share constants are counts, rates or prices).
NON_NEGATIVE_CONSTANTS: tuple[str, ...] = tuple(
    n for n in REQUIRED_CONSTANTS if n not in SHARE_CONSTANTS
)

PLATFORM_COLUMNS: tuple[str, ...] = (
    "platform",
    "label",
    "video_launch",
    "first_scope",
    "monthly_price_eur",
    "price_kind",
    "source",
    "note",
)
REQUIRED_PLATFORMS: tuple[str, ...] = ("doctolib", "other")

EVENT_COLUMNS: tuple[str, ...] = ("key", "date", "event", "category", "source")
REQUIRED_EVENTS: tuple[str, ...] = (
    "reimbursement_start",
    "known_patient_rule_start",
    "pathway_rule_start",
    "doctolib_video_launch",
    "equipment_aid_start",
    "pharmacy_teleconsultation_allowed",
    "pharmacy_kiosks_start",
    "covid_platforms_free",
    "covid_rules_waived",
    "covid_rules_waived_end",
    "covid_full_coverage",
    "covid_full_coverage_end",
    "phone_start_1",
    "phone_end_1",
    "phone_start_2",
    "phone_end_2",
    "avenant9_in_force",
)


class InputDataError(ValueError):
    """An input data file is missing, malformed, or holds a value outside its allowed range."""


@dataclass(frozen=True, eq=False)
class Inputs:
    """The validated input data. Treat the DataFrames as read-only (the object is shared).

    ``eq=False``: equality and hashing are by identity (DataFrames cannot be compared or hashed).
    """

    regions: pd.DataFrame
    constants: dict[str, float]
    platforms: pd.DataFrame
    events: dict[str, dt.date]
    event_table: pd.DataFrame
    stringency: np.ndarray  # OxCGRT stringency index (0-100), one value a day from stringency_start
    stringency_start: dt.date
    data_dir: Path
    #: doctors some platforms opened with (``launch_cohorts.csv``; empty if the folder has none)
    launch_cohorts: pd.DataFrame

    @property
    def n_regions(self) -> int:
        return len(self.regions)

    @property
    def age_bands(self) -> tuple[str, ...]:
        return AGE_BANDS

    @property
    def doctor_types(self) -> tuple[str, ...]:
        return DOCTOR_TYPES

    @property
    def population_by_age(self) -> np.ndarray:
        """Persons by region (rows, file order) and age band (columns, AGE_BANDS), int64."""
        return self.regions[list(AGE_COLUMNS)].to_numpy(dtype=np.int64)

    @property
    def doctors_by_type(self) -> np.ndarray:
        """Doctors by region (rows, file order) and type (columns, DOCTOR_TYPES), int64."""
        return self.regions[list(DOCTOR_COLUMNS)].to_numpy(dtype=np.int64)


def load_inputs(data_dir: str | Path | None = None) -> Inputs:
    """Load and validate the input files of ``data_dir`` (default: ``model/data``).

    The default folder is read once per process and the same frozen object returned afterwards.
    """
    if data_dir is None:
        return _load_default()
    return _load(Path(data_dir))


@functools.lru_cache(maxsize=1)
def _load_default() -> Inputs:
    return _load(DEFAULT_DATA_DIR)


def _load(data_dir: Path) -> Inputs:
    data_dir = Path(data_dir).resolve()
    if not data_dir.is_dir():
        raise InputDataError(f"input data folder {data_dir} does not exist")
    constants = _load_constants(data_dir / CONSTANTS_FILE)
    regions = _load_regions(data_dir / REGIONS_FILE)
    regions = _with_doctors(regions, _load_doctors(data_dir / DOCTORS_FILE, regions), constants)
    platforms = _load_platforms(data_dir / PLATFORMS_FILE)
    event_table, events = _load_events(data_dir / EVENTS_FILE)
    stringency, stringency_start = _load_stringency(data_dir / STRINGENCY_FILE)
    cohorts = _load_launch_cohorts(
        data_dir / LAUNCH_COHORTS_FILE,
        regions.region_code.astype(str).tolist(),
        platforms.platform.tolist(),
    )
    return Inputs(
        regions=regions,
        constants=constants,
        platforms=platforms,
        events=events,
        event_table=event_table,
        stringency=stringency,
        stringency_start=stringency_start,
        data_dir=data_dir,
        launch_cohorts=cohorts,
    )


# --- helpers -------------------------------------------------------------------------------------


def _read_csv(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    if not path.is_file():
        raise InputDataError(f"{path.name}: file not found in {path.parent}")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise InputDataError(f"{path.name}: cannot be read as UTF-8 CSV ({exc})") from exc
    df.columns = [c.strip() for c in df.columns]
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputDataError(
            f"{path.name}: missing required column(s) {missing}; required: {list(columns)}"
        )
    return df.apply(lambda s: s.str.strip())


def _number(file: str, row: str, column: str, text: str, rng: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise InputDataError(
            f"{file}: row {row}, column {column}: {text!r} is not a finite number "
            f"(allowed range {rng})"
        )
    return value


def _integer(file: str, row: str, column: str, text: str, rng: str) -> int:
    value = _number(file, row, column, text, rng)
    if value != int(value):
        raise InputDataError(
            f"{file}: row {row}, column {column}: {text!r} is not a whole number "
            f"(allowed range {rng})"
        )
    return int(value)


def _date(file: str, row: str, column: str, text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise InputDataError(
            f"{file}: row {row}, column {column}: {text!r} is not a valid date (YYYY-MM-DD)"
        ) from exc


# --- regions -------------------------------------------------------------------------------------


def _load_regions(path: Path) -> pd.DataFrame:
    f = path.name
    raw = _read_csv(path, REGION_COLUMNS)
    if len(raw) != N_REGIONS:
        raise InputDataError(f"{f}: {len(raw)} region rows, expected exactly {N_REGIONS}")
    codes = raw["region_code"].tolist()
    for i, code in enumerate(codes):
        if not code:
            raise InputDataError(f"{f}: row {i + 2} (line), column region_code: empty")
    dupes = sorted({c for c in codes if codes.count(c) > 1})
    if dupes:
        raise InputDataError(f"{f}: column region_code: duplicate code(s) {dupes}")

    out = pd.DataFrame({"region_code": raw["region_code"], "region": raw["region"]})
    overseas = []
    for code, text in zip(codes, raw["overseas"], strict=True):
        t = text.lower()
        if t not in ("true", "false"):
            raise InputDataError(f"{f}: row {code}, column overseas: {text!r} is not true or false")
        overseas.append(t == "true")
    out["overseas"] = np.array(overseas, dtype=bool)
    n_over = int(out["overseas"].sum())
    if n_over != N_OVERSEAS or N_REGIONS - n_over != N_METROPOLITAN:
        raise InputDataError(
            f"{f}: column overseas: {N_REGIONS - n_over} metropolitan and {n_over} overseas "
            f"regions, expected {N_METROPOLITAN} and {N_OVERSEAS}"
        )

    for col in ("population", *AGE_COLUMNS):
        low = 1 if col == "population" else 0
        rng = f"[{low}, inf)"
        vals = []
        for code, text in zip(codes, raw[col], strict=True):
            v = _integer(f, code, col, text, rng)
            if v < low:
                raise InputDataError(
                    f"{f}: row {code}, column {col}: {v} is outside the allowed range {rng}"
                )
            vals.append(v)
        out[col] = np.array(vals, dtype=np.int64)

    band_sum = out[list(AGE_COLUMNS)].sum(axis=1)
    for code, total, s in zip(codes, out["population"], band_sum, strict=True):
        if total != s:
            raise InputDataError(
                f"{f}: row {code}, column population: {total} but the age bands "
                f"{list(AGE_COLUMNS)} sum to {s} (they must sum exactly to population)"
            )

    for col in SHARE_COLUMNS:
        vals = []
        for code, text in zip(codes, raw[col], strict=True):
            v = _number(f, code, col, text, "[0, 1]")
            if not 0.0 <= v <= 1.0:
                raise InputDataError(
                    f"{f}: row {code}, column {col}: {v} is outside the allowed range [0, 1]"
                )
            vals.append(v)
        out[col] = np.array(vals, dtype=float)

    for col in SOURCE_COLUMNS:
        for code, text in zip(codes, raw[col], strict=True):
            if not text:
                raise InputDataError(
                    f"{f}: row {code}, column {col}: empty (give a URL, a seed file name or "
                    "'assumption: ...' saying how the value was derived)"
                )
        out[col] = raw[col]

    return out[list(REGION_COLUMNS)].reset_index(drop=True)


# --- constants -----------------------------------------------------------------------------------


def _load_constants(path: Path) -> dict[str, float]:
    f = path.name
    raw = _read_csv(path, CONSTANT_COLUMNS)
    names = raw["name"].tolist()
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputDataError(f"{f}: column name: duplicate constant(s) {dupes}")
    constants: dict[str, float] = {}
    for _, r in raw.iterrows():
        name = r["name"]
        if not name:
            raise InputDataError(f"{f}: a row has an empty name")
        rng = "[0, 1]" if name in SHARE_CONSTANTS else "a finite number"
        value = _number(f, name, "value", r["value"], rng)
        kind = r["kind"]
        if kind not in CONSTANT_KINDS:
            raise InputDataError(
                f"{f}: row {name}, column kind: {kind!r} is not one of {list(CONSTANT_KINDS)}"
            )
        if kind == "assumption" and not (r["note"] or r["source"]):
            raise InputDataError(
                f"{f}: row {name}, columns note/source: an assumption must say how it was "
                "derived (both are empty)"
            )
        if kind == "sourced" and not r["source"]:
            raise InputDataError(f"{f}: row {name}, column source: a sourced value needs a source")
        constants[name] = value
    missing = [n for n in REQUIRED_CONSTANTS if n not in constants]
    if missing:
        raise InputDataError(f"{f}: column name: missing required constant(s) {missing}")
    for name in SHARE_CONSTANTS:
        if not 0.0 <= constants[name] <= 1.0:
            raise InputDataError(
                f"{f}: row {name}, column value: {constants[name]} is outside the allowed "
                "range [0, 1]"
            )
    for name in NON_NEGATIVE_CONSTANTS:
        if constants[name] < 0:
            raise InputDataError(
                f"{f}: row {name}, column value: {constants[name]} is outside the allowed "
                "range [0, inf)"
            )
    return constants


# --- platforms -----------------------------------------------------------------------------------


def _load_platforms(path: Path) -> pd.DataFrame:
    f = path.name
    raw = _read_csv(path, PLATFORM_COLUMNS)
    names = raw["platform"].tolist()
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputDataError(f"{f}: column platform: duplicate platform(s) {dupes}")
    missing = [p for p in REQUIRED_PLATFORMS if p not in names]
    if missing:
        raise InputDataError(f"{f}: column platform: missing required platform(s) {missing}")
    out = raw.copy()
    out["video_launch"] = [
        _date(f, p, "video_launch", t) for p, t in zip(names, raw["video_launch"], strict=True)
    ]
    prices = []
    for p, t in zip(names, raw["monthly_price_eur"], strict=True):
        v = _number(f, p, "monthly_price_eur", t, "[0, inf)")
        if v < 0:
            raise InputDataError(
                f"{f}: row {p}, column monthly_price_eur: {v} is outside the allowed range [0, inf)"
            )
        prices.append(v)
    out["monthly_price_eur"] = np.array(prices, dtype=float)
    return out[list(PLATFORM_COLUMNS)].reset_index(drop=True)


# --- events --------------------------------------------------------------------------------------


def _load_events(path: Path) -> tuple[pd.DataFrame, dict[str, dt.date]]:
    f = path.name
    raw = _read_csv(path, EVENT_COLUMNS)
    table = raw.copy()
    dates = []
    events: dict[str, dt.date] = {}
    for i, r in raw.iterrows():
        label = r["key"] or f"line {i + 2}"
        d = _date(f, label, "date", r["date"])
        dates.append(d)
        if r["key"]:
            if r["key"] in events:
                raise InputDataError(f"{f}: row {r['key']}, column key: duplicate key")
            events[r["key"]] = d
    table["date"] = dates
    missing = [k for k in REQUIRED_EVENTS if k not in events]
    if missing:
        raise InputDataError(f"{f}: column key: missing required event key(s) {missing}")
    return table[list(EVENT_COLUMNS)].reset_index(drop=True), events


# --- launch cohorts ------------------------------------------------------------------------------


def _load_launch_cohorts(path: Path, codes: list[str], platforms: list[str]) -> pd.DataFrame:
    """The doctors platforms opened with. Optional: a data folder without the file (one made
    before the file existed) runs with no cohorts."""
    f = path.name
    if not path.is_file():
        return pd.DataFrame(columns=list(LAUNCH_COHORT_COLUMNS))
    raw = _read_csv(path, LAUNCH_COHORT_COLUMNS)
    out = raw.copy()
    names = raw["cohort"].tolist()
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes or "" in names:
        raise InputDataError(f"{f}: column cohort: empty or duplicate name(s) {dupes}")
    dates, untils, counts, clients = [], [], [], []
    for r in raw.itertuples(index=False):
        c = r.cohort
        if r.platform not in platforms:
            raise InputDataError(
                f"{f}: row {c}, column platform: {r.platform!r} is not one of {platforms}"
            )
        if r.doctor_type != "any" and r.doctor_type not in DOCTOR_TYPES:
            raise InputDataError(
                f"{f}: row {c}, column doctor_type: {r.doctor_type!r} is not 'any' or one of "
                f"{list(DOCTOR_TYPES)}"
            )
        if r.region_code != "any" and r.region_code not in codes:
            raise InputDataError(
                f"{f}: row {c}, column region_code: {r.region_code!r} is not 'any' or a "
                f"region_code of {REGIONS_FILE}"
            )
        if r.clients_only not in ("yes", "no"):
            raise InputDataError(
                f"{f}: row {c}, column clients_only: {r.clients_only!r} is not 'yes' or 'no'"
            )
        if r.clients_only == "yes" and r.platform != "doctolib":
            raise InputDataError(
                f"{f}: row {c}, column clients_only: only Doctolib has booking clients"
            )
        n = _number(f, c, "doctors", r.doctors, "[0, 100000]")
        if not (0 <= n <= 100_000) or n != int(n):
            raise InputDataError(
                f"{f}: row {c}, column doctors: {r.doctors} is not a whole number in the "
                "allowed range [0, 100000]"
            )
        start = _date(f, c, "date", r.date)
        until = _date(f, c, "billing_until", r.billing_until) if r.billing_until else None
        if until is not None and until < start:
            raise InputDataError(
                f"{f}: row {c}, column billing_until: {until} is before the cohort's date {start}"
            )
        dates.append(start)
        untils.append(until)
        counts.append(int(n))
        clients.append(r.clients_only == "yes")
    out["date"], out["billing_until"] = dates, untils
    out["doctors"], out["clients_only"] = counts, clients
    return out[list(LAUNCH_COHORT_COLUMNS)].reset_index(drop=True)


# --- stringency ----------------------------------------------------------------------------------


def _load_stringency(path: Path) -> tuple[np.ndarray, dt.date]:
    """The daily index: consecutive dates, values in [0, 100]."""
    f = path.name
    raw = _read_csv(path, STRINGENCY_COLUMNS)
    if raw.empty:
        raise InputDataError(f"{f}: no rows (one row a day is required)")
    dates = [_date(f, f"line {i + 2}", "date", t) for i, t in enumerate(raw["date"])]
    for i in range(1, len(dates)):
        if (dates[i] - dates[i - 1]).days != 1:
            raise InputDataError(
                f"{f}: row {dates[i].isoformat()}, column date: not the day after "
                f"{dates[i - 1].isoformat()} (one row a day, in order, is required)"
            )
    values = np.array(
        [
            _number(f, d.isoformat(), "stringency_index", t, "[0, 100]")
            for d, t in zip(dates, raw["stringency_index"], strict=True)
        ]
    )
    bad = np.flatnonzero((values < 0) | (values > 100))
    if bad.size:
        i = int(bad[0])
        raise InputDataError(
            f"{f}: row {dates[i].isoformat()}, column stringency_index: {values[i]} is outside "
            "the allowed range [0, 100]"
        )
    values.setflags(write=False)
    return values, dates[0]


# --- doctors by region and type ------------------------------------------------------------------


def _load_doctors(path: Path, regions: pd.DataFrame) -> pd.DataFrame:
    """All doctors, GPs and specialists per region (GP and specialist counts may be blank: gaps).

    Returns one row per region of ``regions`` (same order): ``doctors_all`` and
    ``general_practitioners`` (NaN where the file has a gap).
    """
    f = path.name
    raw = _read_csv(path, DOCTORS_FILE_COLUMNS)
    codes = raw["region_code"].tolist()
    dupes = sorted({c for c in codes if codes.count(c) > 1})
    if dupes:
        raise InputDataError(f"{f}: column region_code: duplicate code(s) {dupes}")
    wanted = regions["region_code"].tolist()
    missing = [c for c in wanted if c not in codes]
    extra = [c for c in codes if c not in wanted]
    if missing or extra:
        raise InputDataError(
            f"{f}: column region_code: missing {missing}, unknown {extra} "
            "(one row per region of regions.csv is required)"
        )
    rows = raw.set_index("region_code").loc[wanted]
    all_docs, gps = [], []
    for code, r in rows.iterrows():
        total = _integer(f, code, "doctors_all", r["doctors_all"], "[1, inf)")
        if total < 1:
            raise InputDataError(
                f"{f}: row {code}, column doctors_all: {total} is outside the allowed "
                "range [1, inf)"
            )
        gp = math.nan
        if r["general_practitioners"]:
            gp = _integer(f, code, "general_practitioners", r["general_practitioners"], "[0, all]")
            if not 0 <= gp <= total:
                raise InputDataError(
                    f"{f}: row {code}, column general_practitioners: {gp} is outside the allowed "
                    f"range [0, {total}] (doctors_all)"
                )
        if r["specialists"] and r["general_practitioners"]:
            sp = _integer(f, code, "specialists", r["specialists"], "[0, all]")
            if sp != total - gp:
                raise InputDataError(
                    f"{f}: row {code}, column specialists: {sp} but doctors_all - "
                    f"general_practitioners = {total - gp} (they must agree)"
                )
        if not r["source"]:
            raise InputDataError(f"{f}: row {code}, column source: empty (a source is required)")
        all_docs.append(total)
        gps.append(gp)
    return pd.DataFrame(
        {"doctors_all": np.array(all_docs, dtype=np.int64), "general_practitioners": gps}
    )


def largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    """Integers proportional to ``weights`` that sum exactly to ``total``."""
    w = np.asarray(weights, dtype=float)
    raw = total * w / w.sum()
    out = np.floor(raw).astype(np.int64)
    short = total - int(out.sum())
    if short > 0:
        out[np.argsort(-(raw - out), kind="stable")[:short]] += 1
    return out


def _with_doctors(regions: pd.DataFrame, docs: pd.DataFrame, c: dict) -> pd.DataFrame:
    """Add the model's four doctor types per region, derived from ``doctors.csv`` (README rules).

    * a region without a GP count takes the metropolitan GP share of its doctors (gap);
    * the national liberal GPs and liberal specialists (constants) are shared out in proportion
      to each region's GPs and specialists (liberal and salaried together in the file);
    * the rest of a region's doctors are salaried: a national share of them
      (``health_centre_share_of_salaried``) work in health centres, the others in hospitals.
    """
    total = docs["doctors_all"].to_numpy(np.int64)
    gp_known = docs["general_practitioners"].to_numpy(float)
    metro = (~regions["overseas"].to_numpy()) & np.isfinite(gp_known)
    gp_share = gp_known[metro].sum() / total[metro].sum()
    gp = np.where(np.isfinite(gp_known), gp_known, total * gp_share)
    spec = total - gp
    lib_gp = largest_remainder(int(c["liberal_gps_national"]), gp)
    lib_spec = largest_remainder(int(c["liberal_specialists_national"]), spec)
    salaried = total - lib_gp - lib_spec
    bad = np.flatnonzero(salaried < 0)
    if bad.size:
        code = regions["region_code"].iloc[int(bad[0])]
        raise InputDataError(
            f"{DOCTORS_FILE}: row {code}: fewer doctors than the liberal GPs and specialists "
            "allotted to the region (check doctors_all against the national liberal totals)"
        )
    n_hc = int(round(c["health_centre_share_of_salaried"] * salaried.sum()))
    hc = np.minimum(largest_remainder(n_hc, salaried), salaried)
    out = regions.copy()
    out["doctor_density_per_100k"] = 1e5 * total / regions["population"].to_numpy(float)
    out["doctors_general_practitioner"] = lib_gp
    out["doctors_specialist"] = lib_spec
    out["doctors_health_centre"] = hc
    out["doctors_hospital"] = salaried - hc
    return out
