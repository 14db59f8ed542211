"""The simulated counterpart of each target, over the same dates (compare like with like).

A weekly table has row k covering the seven days from 15 Sep 2018 + 7k days (Saturday to Friday).
A target's date range rarely falls on week boundaries (the CNAM's weeks run Monday to Sunday), so
the part of a straddling week inside the range has to be estimated. A flow (acts, new patients) is
read off its running total, known exactly at every week boundary and interpolated between them by
a monotone cubic (scipy's PCHIP): the days of a week keep the week's total, and the daily rate
follows the weeks around it instead of being flat within the week and jumping at its ends. In a
steady period the two readings agree; in the surge of March 2020, when the weekly acts grew twelve
times in a week, a flat week would give the first days of the surge a seventh of the week each,
and a range straddling the jump would be read far off (``docs/calibration.md``). A stock (doctors
who have billed) is interpolated the same way between the ends of two weeks. The running total is
non-decreasing, so every part of a week stays between zero and the week's total.

Mappings decided here (and stated in ``docs/calibration.md``):

* weekly count = acts over the range / (days / 7); monthly and cumulative counts = acts over it;
* shares of acts by doctor type, by Île-de-France (region code ``11``) and by Doctolib;
  liberal doctors = GP + specialist; GP share of liberal acts = GP / (GP + specialist)
  (the "two thirds" figure, see ``data/README.md``); doctor 60+ share of liberal acts;
* patient age shares from first-time users (``new_patients``) over the range: under 40 = 0-19 +
  20-39; 70+ = 75+ plus one third of 60-74 and under 30 = 0-19 plus half of 20-39 (assumption:
  ages uniform within a band);
* patients = persons who teleconsulted for the first time within the range (from 15 Sep 2018 this
  is ``patients_ever``); doctors = ``billing_doctors_liberal`` at the end of the range;
* doctors billing in a week = liberal doctors with at least one act that week
  (``billing_doctors_week_liberal``), averaged over the range's weeks; as a share, over all liberal
  doctors (``liberal_doctors``); for the scope ``general_practitioner``, liberal GPs billing
  (``billing_doctors_week_gp``) over all liberal GPs (``general_practitioners``);
* acts by the patient's own treating doctor = acts on the médecin-traitant tie (``acts_own_mt``).

A frame may lack a column (the Bass baseline has only acts and doctors): the quantity is NaN.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from scipy.interpolate import PchipInterpolator

from .targets import Target

IDF_CODE = "11"
#: Doctors billing in a week and all doctors of the scope: liberal doctors unless listed.
LIBERAL_BILLING_COLUMNS = ("billing_doctors_week_liberal", "liberal_doctors")
BILLING_COLUMNS = {"general_practitioner": ("billing_doctors_week_gp", "general_practitioners")}
DOCTOR_TYPE_COLUMNS = {
    "general_practitioner": "acts_general_practitioner",
    "specialist": "acts_specialist",
    "health_centre": "acts_health_centre",
    "hospital": "acts_hospital",
}
#: Weights of each age band (0-19, 20-39, 40-59, 60-74, 75+) in an age group of patients.
AGE_GROUP_WEIGHTS = {
    "age_under_40": (1.0, 1.0, 0.0, 0.0, 0.0),
    "age_under_30": (1.0, 0.5, 0.0, 0.0, 0.0),
    "age_70_plus": (0.0, 0.0, 0.0, 1.0 / 3.0, 1.0),
}
AGE_BANDS = ("0-19", "20-39", "40-59", "60-74", "75+")


def _days(week_start: np.ndarray, day: dt.date | np.datetime64) -> float:
    """Days from the first week's start to the start of ``day``."""
    ws = np.asarray(week_start, dtype="datetime64[D]")
    return float((np.datetime64(day, "D") - ws[0]).astype(np.int64))


def _knots(week_start: np.ndarray) -> np.ndarray:
    """The week boundaries, in days from the first week's start (one more than weeks)."""
    ws = np.asarray(week_start, dtype="datetime64[D]")
    return np.concatenate([(ws - ws[0]).astype(np.int64), [(ws[-1] - ws[0]).astype(np.int64) + 7]])


def running_total(week_start: np.ndarray, values: np.ndarray) -> PchipInterpolator:
    """The running total of a weekly flow as a function of days from the first week's start:
    exact at the week boundaries, a monotone cubic between them."""
    totals = np.concatenate([[0.0], np.cumsum(np.asarray(values, dtype=float))])
    return PchipInterpolator(_knots(week_start).astype(float), totals)


def flow_between(
    week_start: np.ndarray,
    values: np.ndarray,
    start: dt.date,
    end: dt.date,
    total: PchipInterpolator | None = None,
) -> float:
    """A weekly flow summed over the days ``[start, end]`` (see the module docstring);
    ``total``: :func:`running_total` of ``values``, if already built."""
    total = running_total(week_start, values) if total is None else total
    hi = _days(week_start, end) + 1.0
    lo = _days(week_start, start)
    span = _knots(week_start)
    hi, lo = min(max(hi, 0.0), span[-1]), min(max(lo, 0.0), span[-1])
    return float(total(hi) - total(lo)) if hi > lo else 0.0


def stock_at(week_start: np.ndarray, values: np.ndarray, day: dt.date) -> float:
    """A stock recorded at the end of each week (zero at the first week's start), interpolated
    by a monotone cubic to the end of ``day``."""
    knots = _knots(week_start).astype(float)
    curve = PchipInterpolator(knots, np.concatenate([[0.0], np.asarray(values, dtype=float)]))
    return float(curve(min(_days(week_start, day) + 1.0, knots[-1])))


class Tables:
    """Column arrays of one run (or a baseline), ready for date-range sums."""

    def __init__(self, frames: dict[str, pd.DataFrame] | pd.DataFrame):
        if isinstance(frames, pd.DataFrame):
            frames = {"weekly": frames}
        weekly = frames["weekly"]
        self.week_start = weekly["week_start"].to_numpy().astype("datetime64[D]")
        self.cols: dict[str, np.ndarray] = {
            c: weekly[c].to_numpy(dtype=float) for c in weekly.columns if c != "week_start"
        }
        self._totals: dict[str, PchipInterpolator] = {}  # running totals, built once per column
        by_region = frames.get("by_region")
        if by_region is not None:
            idf = by_region[by_region["region_code"].astype(str) == IDF_CODE]
            self.cols["acts_idf"] = self._align(idf, "acts")
        by_age = frames.get("by_age")
        if by_age is not None:
            for i, band in enumerate(AGE_BANDS):
                part = by_age[by_age["age_band"] == band]
                self.cols[f"new_patients_age{i}"] = self._align(part, "new_patients")

    def _align(self, part: pd.DataFrame, column: str) -> np.ndarray:
        s = part.groupby("week_start")[column].sum()
        idx = pd.to_datetime(self.week_start)
        return s.reindex(idx, fill_value=0).to_numpy(dtype=float)

    def flow(self, column: str, start: dt.date, end: dt.date) -> float:
        """Sum of a weekly flow over ``[start, end]`` (a straddling week's part read off the
        running total, see the module docstring)."""
        values = self.cols.get(column)
        if values is None:
            return float("nan")
        if np.datetime64(end, "D") >= self.week_start[-1] + 7:
            return float("nan")  # the run stops before the range ends
        if column not in self._totals:
            self._totals[column] = running_total(self.week_start, values)
        return flow_between(self.week_start, values, start, end, self._totals[column])

    def stock(self, column: str, day: dt.date) -> float:
        values = self.cols.get(column)
        if values is None or np.datetime64(day, "D") >= self.week_start[-1] + 7:
            return float("nan")
        return stock_at(self.week_start, values, day)


def _ratio(num: float, den: float) -> float:
    if not np.isfinite(num) or not np.isfinite(den):
        return float("nan")
    return num / den if den > 0 else 0.0


def quantity(tables: Tables, t: Target) -> float:
    """The simulated value of one target (NaN if these tables cannot say)."""
    a, b = t.start, t.end
    if t.kind in ("monthly_count", "cumulative_count"):
        return tables.flow("acts", a, b)
    if t.kind == "weekly_count":
        return tables.flow("acts", a, b) / (((b - a).days + 1) / 7.0)
    if t.kind == "doctors_count":
        return tables.stock("billing_doctors_liberal", b)
    if t.kind in ("doctors_billing_weekly", "share_of_doctors_billing_weekly"):
        weeks = ((b - a).days + 1) / 7.0
        billing_column, all_column = BILLING_COLUMNS.get(t.scope, LIBERAL_BILLING_COLUMNS)
        billing = tables.flow(billing_column, a, b) / weeks
        if t.kind == "doctors_billing_weekly":
            return billing
        return _ratio(billing, tables.flow(all_column, a, b) / weeks)
    if t.kind == "patients_count":
        return tables.flow("new_patients", a, b)
    if t.kind == "share_of_acts":
        total = tables.flow("acts", a, b)
        if t.scope in DOCTOR_TYPE_COLUMNS:
            return _ratio(tables.flow(DOCTOR_TYPE_COLUMNS[t.scope], a, b), total)
        if t.scope == "liberal_doctor":
            liberal = tables.flow("acts_general_practitioner", a, b) + tables.flow(
                "acts_specialist", a, b
            )
            return _ratio(liberal, total)
        if t.scope == "Ile-de-France":
            return _ratio(tables.flow("acts_idf", a, b), total)
        if t.scope == "Doctolib":
            return _ratio(tables.flow("acts_doctolib", a, b), total)
        if t.scope == "own_treating_doctor":
            return _ratio(tables.flow("acts_own_mt", a, b), total)
    if t.kind == "share_of_liberal_acts":
        liberal = tables.flow("acts_general_practitioner", a, b) + tables.flow(
            "acts_specialist", a, b
        )
        if t.scope == "general_practitioner":
            return _ratio(tables.flow("acts_general_practitioner", a, b), liberal)
        if t.scope == "doctor_age_60_plus":
            return _ratio(tables.flow("acts_liberal_doctor_60plus", a, b), liberal)
    if t.kind == "share_of_patients" and t.scope in AGE_GROUP_WEIGHTS:
        bands = np.array([tables.flow(f"new_patients_age{i}", a, b) for i in range(5)])
        weights = np.array(AGE_GROUP_WEIGHTS[t.scope])
        return _ratio(float(weights @ bands), float(bands.sum()))
    raise ValueError(
        f"target {t.id!r}: no simulated quantity for kind {t.kind!r}, scope {t.scope!r}"
    )


def quantities(frames, targets: list[Target]) -> np.ndarray:
    """Simulated values of ``targets`` from one run's frames (``simulate(detail=True)``)."""
    tables = frames if isinstance(frames, Tables) else Tables(frames)
    return np.array([quantity(tables, t) for t in targets], dtype=float)
