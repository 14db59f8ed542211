"""The model's two groups of free parameters: behavioural *uncertainties* and policy *levers*.

Fixed, sourced *inputs* (populations, doctor counts, dates, tariffs) live in ``model/data`` and are
loaded by :mod:`model.inputs`. Uncertainties are what calibration fits; levers are what scenarios
set. Keeping the three apart (as EMA Workbench does) means a scenario can never silently change a
fitted value, and calibration can never silently change a policy.

Every field carries its allowed range; a value outside it, a wrong type or an unknown name raises
:class:`ParameterError`, whose message names the field, the value and the range.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

#: Reimbursement of video consultations started on Saturday 15 Sep 2018 (ameli.fr, timeline.csv).
START_DATE = dt.date(2018, 9, 15)
#: The latest date the model may run to.
MAX_END_DATE = dt.date(2030, 12, 31)


#: Names a file may still hold from an earlier parameterisation, with how to convert them.
RETIRED: dict[str, str] = {
    "choice_child": "choice_child (0-19 offset on an intercept at 0-19) was replaced on 25 Nov "
    "2026 by the centred age parameters: choice_logit_new = choice_logit + 2 choice_age, "
    "choice_child_gap = choice_child - 4 choice_age (docs/calibration.md)",
    "choice_young": "choice_young (the 20-39 band above the linear age trend) was replaced on "
    "25 Nov 2026 by choice_young_gap, the 20-39 band above the 40-59 band: choice_young_gap = "
    "choice_young - choice_age (docs/calibration.md)",
    "p_external": "p_external (the external adoption rate of an open doctor) was replaced on 6 "
    "Dec 2026 by external_rate_urban = p_external x open_share_urban (docs/calibration.md)",
    "choice_logit": "choice_logit (the 40-59 band's log-odds) was replaced on 6 Dec 2026 by "
    "choice_level, the mean over the bands weighted 0.05, 0.5, 0.25, 0.15, 0.05 (0-19 … 75+): "
    "choice_level = choice_logit + 0.35 choice_age + 0.05 choice_child_gap + 0.5 "
    "choice_young_gap (docs/calibration.md)",
    "choice_young_gap": "choice_young_gap (the 20-39 band above 40-59) was replaced on 6 Dec 2026 "
    "by choice_young_senior_gap, the 20-39 band above 60-74: choice_young_senior_gap = "
    "choice_young_gap - choice_age (docs/calibration.md)",
    "open_share": "open_share (the openness of a rural reference doctor) was replaced on 6 Dec "
    "2026 by open_share_urban, that of an urban one: open_share_urban = logistic(logit("
    "open_share) + open_urban) (docs/calibration.md)",
}


class ParameterError(ValueError):
    """A parameter has an unknown name, a wrong type or a value outside its allowed range."""


def read_parameter_file(path: str | Path, parse: Callable[[str], Any], fmt: str) -> Any:
    """The parsed text of a parameter file (a scenario's TOML, an uncertainty file's JSON).

    Raises :class:`ParameterError` naming the file when it cannot be read, is not UTF-8 text, or
    is not valid ``fmt`` (``parse`` raising ``ValueError``, e.g. an integer too long to read).
    """
    try:
        return parse(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ParameterError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ParameterError(f"{path}: not UTF-8 text: {exc}") from None
    except (ValueError, RecursionError) as exc:  # a decode error, or an integer too long to read
        raise ParameterError(f"{path}: not valid {fmt}: {exc}") from None


def _p(default: Any, low: Any = None, high: Any = None, doc: str = "", calibrate: bool = False):
    """A dataclass field with its allowed range, a one-line meaning and a calibration flag."""
    return field(
        default=default,
        metadata={"low": low, "high": high, "doc": doc, "calibrate": calibrate},
    )


def _date(value: Any, name: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError as exc:
            raise ParameterError(f"{name}: {value!r} is not a date (expected YYYY-MM-DD)") from exc
    raise ParameterError(f"{name}: {value!r} is not a date (expected YYYY-MM-DD)")


class _Params:
    """Shared validation for the two parameter groups (frozen dataclasses)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            checked = _check(f, value, f"{type(self).__name__.lower()}.{f.name}")
            object.__setattr__(self, f.name, checked)

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None, *, where: str | None = None, base=None):
        """Build from a plain mapping (a TOML table, JSON), refusing unknown names.

        Fields the mapping leaves out keep their value in ``base`` (default: the class defaults).
        """
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            prefix = f"{where}: " if where else ""
            hints = "".join(f"; {RETIRED[u]}" for u in unknown if u in RETIRED)
            raise ParameterError(
                f"{prefix}unknown {cls.__name__.lower()} field(s) {unknown}; "
                f"allowed: {sorted(known)}{hints}"
            )
        return cls(**values) if base is None else dataclasses.replace(base, **values)

    def replace(self, **changes: Any):
        """A copy with some fields changed (validated like the constructor)."""
        unknown = sorted(set(changes) - {f.name for f in fields(self)})
        if unknown:
            raise ParameterError(f"unknown {type(self).__name__.lower()} field(s) {unknown}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain values (dates as ISO strings), ready for JSON."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.isoformat() if isinstance(v, dt.date) else v
        return out

    @classmethod
    def specs(cls) -> list[dict[str, Any]]:
        """One dict per field: name, default, low, high, doc, calibrate, type."""
        return [
            {"name": f.name, "default": f.default, "type": _kind(f), **f.metadata}
            for f in fields(cls)
        ]


def _kind(f: dataclasses.Field) -> str:
    t = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    return t.replace(" ", "")


def _check(f: dataclasses.Field, value: Any, name: str) -> Any:
    kind = _kind(f)
    low, high = f.metadata.get("low"), f.metadata.get("high")
    rng = f"[{low}, {high}]" if low is not None or high is not None else ""
    if kind == "bool":
        if not isinstance(value, bool):
            raise ParameterError(f"{name}: {value!r} is not a boolean (true or false)")
        return value
    if kind in ("dt.date|None", "dt.date"):
        if value is None:
            if kind == "dt.date":
                raise ParameterError(f"{name}: a date is required, got None")
            return None
        d = _date(value, name)
        lo = _date(low, name) if low is not None else None
        hi = _date(high, name) if high is not None else None
        if (lo and d < lo) or (hi and d > hi):
            raise ParameterError(f"{name}: {d.isoformat()} is outside the allowed range {rng}")
        return d
    if kind in ("float", "int"):
        return _number(kind, value, name, low, high, rng)
    raise TypeError(f"unsupported parameter type {kind} for {name}")  # pragma: no cover


def _number(kind: str, value: Any, name: str, low: Any, high: Any, rng: str) -> float | int:
    """A checked ``float`` or ``int`` field: a finite number (whole for ``int``) in [low, high].

    A value no float can hold (``10**400`` for a float field) is outside the range like any other
    too large value, and a float no int can hold (``inf``, ``nan``) is refused as not finite.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParameterError(f"{name}: {value!r} is not a number (allowed range {rng})")
    if kind == "float":
        try:
            value = float(value)
        except OverflowError:
            raise ParameterError(
                f"{name}: {_show_int(value)} is outside the allowed range {rng}"
            ) from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ParameterError(f"{name}: {value!r} is not finite (allowed range {rng})")
    if kind == "int" and isinstance(value, float):
        if not value.is_integer():
            raise ParameterError(f"{name}: {value!r} is not a whole number (range {rng})")
        value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        shown = _show_int(value) if isinstance(value, int) else repr(value)
        raise ParameterError(f"{name}: {shown} is outside the allowed range {rng}")
    return value


def _show_int(value: int) -> str:
    """A whole number for a message: its digits, or its order of magnitude when it is huge."""
    if abs(value) < 10**30:
        return repr(value)
    return f"about {'-' if value < 0 else ''}10**{math.floor(math.log10(abs(value)))}"


@dataclass(frozen=True)
class Uncertainties(_Params):
    """Behavioural parameters: not observed directly, fitted to the 2018-2019 counts.

    Rates are per year; log-odds effects are additive on the logit scale. Defaults are plausible
    planning values (model brief §4); :func:`model.simulate` with ``uncertainties=None`` uses the
    committed calibration instead when it exists. ``calibrate`` marks what the calibration searches;
    the others are kept at their default and reported as not identified by the 2018-2019 data.
    """

    # --- doctor adoption (Bass: hazard = p * platform pull + q * adopted share of open peers) ---
    # Written as the product: the first-year figures see how many urban reference doctors
    # adopt by external influence a year, p_external x open_share_urban, not the two factors (as
    # separate parameters their posterior traded them off, r -0.81). The default is the planning
    # p_external 0.05 times the default open_share_urban.
    external_rate_urban: float = _p(
        0.005478602577942386,
        1e-5,
        5.0,
        "external adoptions per year per urban reference doctor, open or not, at a platform pull "
        "of 1: p_external x open_share_urban (the Bass p of those doctors)",
        True,
    )
    q_imitation: float = _p(
        2.0,
        0.0,
        10.0,
        "imitation rate per year (adopted share of open colleagues of the same region and type)",
        True,
    )
    # The reference doctor is urban: most liberal doctors practise in towns, so the first-year
    # figures see the urban openness, not the rural one (written as a rural reference, its
    # posterior traded off against ``open_urban``, r -0.71). The default is the planning values'
    # rural 1% shifted by ``open_urban`` 2.5: logistic(logit(0.01) + 2.5).
    open_share_urban: float = _p(
        0.10957205155884771,
        0.001,
        1.0,
        "share of reference doctors (GP, under 60, solo, urban practice) "
        "open to video before COVID: the Bass ceiling",
        True,
    )
    open_age60: float = _p(
        -1.0, -5.0, 3.0, "log-odds effect on openness of a doctor aged 60+", True
    )
    open_urban: float = _p(
        2.5, -3.0, 5.0, "log-odds gap in openness of an urban over a rural practice", True
    )
    open_group: float = _p(0.3, -3.0, 3.0, "log-odds effect on openness of group practice")
    open_specialist: float = _p(0.0, -5.0, 5.0, "log-odds openness of specialists vs GPs", True)
    open_health_centre: float = _p(
        1.0, -5.0, 6.0, "log-odds openness of health-centre doctors", True
    )
    open_hospital: float = _p(-1.5, -6.0, 5.0, "log-odds openness of hospital doctors", True)
    doctolib_pull: float = _p(
        25.0,
        0.0,
        100.0,
        "external pull of Doctolib video for its booking "
        "clients, relative to the other platforms (=1)",
        True,
    )
    doctolib_idf_odds: float = _p(
        3.0,
        -3.0,
        5.0,
        "log-odds of a doctor being a Doctolib booking client in Île-de-France "
        "relative to elsewhere (no sourced regional figure)",
        True,
    )
    doctolib_rollout_weeks: float = _p(
        20.0,
        0.0,
        80.0,
        "weeks from the Île-de-France GP launch "
        "to Doctolib video for every client (no sourced date)",
        True,
    )
    launch_cohort_scale: float = _p(
        0.0,
        0.0,
        3.0,
        "multiplier on the sourced counts of doctors platforms launched with "
        "(model/data/launch_cohorts.csv); 0: none (the planning default; the committed "
        "calibration holds 1, the sourced counts)",
    )
    launch_awareness_weeks: float = _p(
        13.0,
        0.0,
        104.0,
        "head start, in weeks of own-doctor awareness, of the patients of a launch cohort's "
        "doctors (the platform tells them)",
        True,
    )
    subsidy_effect: float = _p(
        0.2, 0.0, 3.0, "relative rise of the adoption hazard per 1,000 EUR of equipment subsidy"
    )
    price_effect: float = _p(
        0.5,
        0.0,
        5.0,
        "log effect on Doctolib pull of its price going from 79 EUR/month to 0",
        True,
    )
    # --- patient choice, awareness, repeat use, capacity ---
    # The age gradient of choice is parameterised by its mean level over the bands
    # (``choice_level``, weighted by 2018-2019's acts by age, rules.CHOICE_AGE_WEIGHTS), its slope
    # from 40-59 up, the gap between 20-39 and 60-74 and the gap between the two end bands (0-19
    # against 75+): the only figures on patients' ages are the shares of under-30s, under-40s and
    # 70+, which pin the level and the young/old contrasts but not the shape in between. Written
    # as an intercept at 0-19, a slope and a 0-19 offset, the three traded off in the posterior
    # (|r| 0.91 to 0.97). With a straight line from 20-39 up, the three shares could not hold
    # together: a fit had children (0-19) at 30% of patients and 20-39 at 25%, where the shares
    # imply about 11% and 45% (under-30s +10 points); the 20-39 band has its own term. With the
    # level at 40-59 (a band that makes a quarter of the acts) and 20-39 measured from 40-59, the
    # joint posterior traded the level against both (r -0.84, -0.78, and +0.73 between them): the
    # counts pin the mean over the bands that make the acts, and the under-40 and 70+ shares the
    # young against the old. In these coordinates the largest of the four's correlations is -0.58
    # (docs/calibration.md).
    choice_level: float = _p(
        -2.495,
        -10.0,
        4.0,
        "mean log-odds over the age bands (weighted by 2018-2019's acts by age: 0.05, 0.5, 0.25, "
        "0.15, 0.05) that an eligible, aware, capable patient of an adopting doctor takes a need "
        "by video (at the 2018 co-payment of 30%)",
        True,
    )
    choice_age: float = _p(
        -0.3,
        -2.0,
        1.0,
        "log-odds change per age band from 40-59 up (40-59, 60-74, 75+)",
        True,
    )
    choice_child_gap: float = _p(
        1.2,
        -5.0,
        8.0,
        "log-odds of the 0-19 band minus that of the 75+ band (children are often examined in "
        "person; the under-16 exception makes them eligible everywhere)",
        True,
    )
    choice_young_senior_gap: float = _p(
        0.6,
        -4.0,
        8.0,
        "log-odds of the 20-39 band minus that of the 60-74 band (young working adults: digital "
        "natives, short of time, booking online)",
        True,
    )
    choice_copay: float = _p(
        1.0,
        0.0,
        6.0,
        "log-odds cost of a full co-payment (0% coverage) relative to none; choice_level holds at "
        "the 2018 co-payment of 30%, so this only acts when coverage moves",
        True,
    )
    choice_desert: float = _p(0.5, -2.0, 3.0, "log-odds effect for patients in under-served areas")
    repeat_odds: float = _p(
        20.0,
        1.0,
        50.0,
        "odds ratio of video choice for a patient who has already teleconsulted",
        True,
    )
    repeat_need_ratio: float = _p(
        1.0,
        1.0,
        10.0,
        "consultation needs of a past user relative to the average person of their age "
        "(those who take up teleconsultation are frequent consulters)",
        True,
    )
    awareness_media: float = _p(
        0.15, 0.0, 5.0, "patient awareness hazard per year from media", True
    )
    awareness_wom: float = _p(
        50.0,
        0.0,
        2000.0,
        "awareness hazard per year per unit share of users in the region (word of mouth)",
    )
    awareness_doctor: float = _p(
        2.0, 0.0, 50.0, "awareness hazard per year from one's own doctor offering video", True
    )
    max_video_share: float = _p(
        0.25,
        0.01,
        1.0,
        "largest share of a doctor's weekly activity that can go to video (capacity)",
        True,
    )
    # --- the 2020-2021 regime: lockdown demand (OxCGRT stringency S in [0, 1]) and its levers ---
    lockdown_open: float = _p(
        3.0,
        0.0,
        10.0,
        "log-odds rise of a doctor's openness to video per unit of the highest stringency so far "
        "(doctors under pressure; openness never reverts)",
        True,
    )
    lockdown_pull: float = _p(
        20.0,
        0.0,
        500.0,
        "rise of an open doctor's external adoption pull per unit of stringency: "
        "pull * (1 + this * S)",
        True,
    )
    lockdown_need_drop: float = _p(
        0.45,
        0.0,
        0.9,
        "share of consultation needs lost at stringency 100 (derived: GP consultations of April "
        "2020 against January 2020; not separable from lockdown_choice by acts alone, not fitted)",
    )
    lockdown_specialist_drop: float = _p(
        0.3,
        0.0,
        0.9,
        "further share of specialists' and hospital doctors' consultation needs lost at "
        "stringency 100 (follow-ups postponed, while first-line care went on)",
        True,
    )
    lockdown_second_line_pressure: float = _p(
        1.0,
        0.0,
        1.0,
        "share of the lockdown's pressure to open up and adopt (lockdown_open, lockdown_pull) "
        "felt by specialists and hospital doctors, whose follow-ups were postponed (1: as GPs)",
        True,
    )
    lockdown_second_line_lag_weeks: float = _p(
        0.0,
        0.0,
        12.0,
        "weeks added to lockdown_uptake_weeks for specialists and hospital doctors: their "
        "follow-ups were first postponed, then moved to video (0: as GPs)",
        True,
    )
    lockdown_choice: float = _p(
        3.0,
        0.0,
        10.0,
        "log-odds shift of video choice at full stringency excess (see lockdown_threshold): the "
        "fear of the waiting room, gone when restrictions are",
        True,
    )
    lockdown_threshold: float = _p(
        0.5,
        0.0,
        0.9,
        "stringency (0-1) above which patients avoid the waiting room: the choice shift grows "
        "with the index's excess over it, rescaled to [0, 1]",
        True,
    )
    lockdown_memory: float = _p(
        1.0,
        0.0,
        10.0,
        "log-odds shift of video choice per unit of the remembered stringency "
        "(what lingers after a lockdown and fades with lockdown_memory_weeks)",
        True,
    )
    lockdown_memory_weeks: float = _p(
        8.0,
        1.0,
        104.0,
        "half-life in weeks of the remembered stringency (how fast the after-effect fades)",
        True,
    )
    lockdown_uptake_weeks: float = _p(
        0.0,
        0.0,
        12.0,
        "half-life in weeks of patients' and doctors' response to a rise of the stringency index "
        "(learning to book, equip and consult remotely takes weeks; 0: at once); a fall takes "
        "effect at once, what lingers is lockdown_memory's",
        True,
    )
    lockdown_awareness: float = _p(
        0.0,
        0.0,
        100.0,
        "awareness hazard per year per unit of the week's stringency index: in the first "
        "lockdown the health authorities urged the public to prefer teleconsultation and the "
        "media covered it (timeline, 17 March 2020); its size is an assumption, fitted in stage B",
        True,
    )
    summer_need_drop: float = _p(
        0.0,
        0.0,
        0.6,
        "share of consultation needs lost in August, when patients and doctors take their summer "
        "holidays, on average over the month (structural assumption: the month of August; how it "
        "is spread over the month: summer_peak_days)",
        True,
    )
    summer_peak_days: float = _p(
        0.0,
        0.0,
        15.0,
        "spread (standard deviation, days) of the August need dip around 15 August, at an equal "
        "August mean; 0: every day of August alike (structural assumption: the summer break peaks "
        "around the 15 August holiday)",
        True,
    )
    phone_choice: float = _p(
        0.0,
        -6.0,
        6.0,
        "log-odds of choosing a phone teleconsultation for a person unable to do video, relative "
        "to a capable person's video choice (only while audio-only acts are reimbursed)",
        True,
    )
    covid_waiver_reach: float = _p(
        0.3,
        0.0,
        1.0,
        "share of needs covered by the waiver for Covid patients (symptoms or diagnosis) of the "
        "known-patient and pathway rules",
        True,
    )

    @property
    def p_external(self) -> float:
        """External adoption rate per year of an open doctor (the Bass p of the open ones)."""
        return self.external_rate_urban / self.open_share_urban


@dataclass(frozen=True)
class Levers(_Params):
    """Policy levers. Defaults are the baseline: rules and platform dates as they were, no COVID.

    A rule's ``*_until`` date is the day it stops applying (``None``: never lifted in the run).
    """

    known_patient_rule_until: dt.date | None = _p(
        None, START_DATE, MAX_END_DATE, "last day the 12-month known-patient rule holds"
    )
    pathway_rule_until: dt.date | None = _p(
        None, START_DATE, MAX_END_DATE, "last day the coordinated-care pathway rule holds"
    )
    coverage_rate: float = _p(0.7, 0.0, 1.0, "share of the tariff paid by the national insurance")
    full_coverage_from: dt.date | None = _p(
        None, START_DATE, MAX_END_DATE, "date from which teleconsultations are covered 100%"
    )
    full_coverage_until: dt.date | None = _p(
        None, START_DATE, MAX_END_DATE, "last day of the 100% coverage (None: to the end)"
    )
    equipment_subsidy_eur: float = _p(
        525.0,
        0.0,
        10000.0,
        "one-off equipment aid per doctor in EUR (2019 forfait structure: 350 + 175 EUR)",
    )
    equipment_subsidy_from: dt.date = _p(
        dt.date(2019, 1, 1), START_DATE, MAX_END_DATE, "date the equipment aid starts"
    )
    doctolib: bool = _p(True, doc="Doctolib video exists at all")
    doctolib_launch: dt.date = _p(
        dt.date(2019, 1, 13),
        START_DATE,
        MAX_END_DATE,
        "Doctolib video launch date (Île-de-France GPs first)",
    )
    doctolib_everywhere_at_launch: bool = _p(False, doc="Doctolib video for every client at once")
    doctolib_price_eur: float = _p(79.0, 0.0, 500.0, "Doctolib video price, EUR per month")
    platforms_free_from: dt.date | None = _p(
        None, START_DATE, MAX_END_DATE, "date from which video platforms are free"
    )
    platforms_free_until: dt.date | None = _p(
        None, START_DATE, MAX_END_DATE, "last day video platforms are free (None: to the end)"
    )
    awareness_campaign: float = _p(
        0.0, 0.0, 5.0, "national campaign: extra patient awareness hazard per year"
    )
    awareness_campaign_from: dt.date = _p(
        START_DATE, START_DATE, MAX_END_DATE, "campaign start date"
    )
    pharmacy_points: int = _p(
        0, 0, 30000, "pharmacies offering assisted teleconsultation beyond the baseline roll-out"
    )
    pharmacy_points_from: dt.date = _p(
        dt.date(2019, 9, 7), START_DATE, MAX_END_DATE, "date the extra pharmacy points open"
    )
    target_deserts: float = _p(
        0.0,
        0.0,
        1.0,
        "intensity of targeting under-served areas: rules "
        "waived there and doctors' hazard raised (0 = none, 1 = full)",
    )
    target_deserts_from: dt.date = _p(
        START_DATE, START_DATE, MAX_END_DATE, "date the targeting starts"
    )
    digital_inclusion: float = _p(
        0.0,
        0.0,
        1.0,
        "share of digitally excluded people brought online (broadband, equipment, help)",
    )
    # --- the 2020-2021 regulatory changes, each its own lever (usable with or without COVID) ---
    rules_waiver_from: dt.date | None = _p(
        None,
        START_DATE,
        MAX_END_DATE,
        "first day the known-patient and pathway rules are waived "
        "(for rules_waiver_scope of needs)",
    )
    rules_waiver_until: dt.date | None = _p(
        None, START_DATE, MAX_END_DATE, "last day of the waiver (None: to the end)"
    )
    rules_waiver_scope: float = _p(
        1.0, 0.0, 1.0, "share of needs the waiver covers (1: every patient; 2020: Covid patients)"
    )
    phone_from: dt.date | None = _p(
        None,
        START_DATE,
        MAX_END_DATE,
        "first day audio-only (phone) teleconsultations are reimbursed: no video or broadband "
        "needed",
    )
    phone_until: dt.date | None = _p(
        None, START_DATE, MAX_END_DATE, "last day phone teleconsultations are reimbursed"
    )
    avenant9_from: dt.date | None = _p(
        None,
        START_DATE,
        MAX_END_DATE,
        "Avenant 9: remote acts capped at 20% of a doctor's activity, the known-patient rule "
        "waived for GP acts with patients of under-served areas",
    )
    # --- COVID-19 as it happened (timeline.csv, OxCGRT stringency) and its components ---
    covid: bool = _p(
        False,
        doc="the history of 2020-2021 as it happened: the pandemic's demand and every dated change "
        "of the regime (the covid_* switches below remove one component at a time)",
    )
    covid_demand: bool = _p(
        True,
        doc="with covid: lockdown demand from the stringency index (patients' shift to remote "
        "care, fewer needs, doctors under pressure)",
    )
    covid_rules_waiver: bool = _p(
        True, doc="with covid: the waiver of the rules for Covid patients (10 Mar 2020 on)"
    )
    covid_full_coverage: bool = _p(
        True, doc="with covid: 100% coverage (18 Mar 2020 - 31 Dec 2021)"
    )
    covid_free_platforms: bool = _p(True, doc="with covid: video platforms free (5 Mar 2020 on)")
    covid_phone: bool = _p(
        True,
        doc="with covid: phone teleconsultations reimbursed (23 Apr - 10 Jul 2020, "
        "17 Oct 2020 - 30 Jun 2021)",
    )
    covid_avenant9: bool = _p(True, doc="with covid: Avenant 9 from 22 Sep 2021")


def coerce_uncertainties(
    value: Uncertainties | dict | None, base: Uncertainties | None = None
) -> Uncertainties | None:
    """Accept an :class:`Uncertainties`, a mapping, or None (meaning: the project's best set).

    A mapping overlays ``base`` (default: the planning defaults): the fields it names change, the
    others keep their value in ``base``.
    """
    if value is None or isinstance(value, Uncertainties):
        return value
    if isinstance(value, dict):
        return Uncertainties.from_dict(value, base=base)
    raise ParameterError(f"uncertainties: expected Uncertainties, dict or None, got {value!r}")


def coerce_levers(value: Levers | dict | None) -> Levers:
    """Accept :class:`Levers`, a mapping, or None (meaning: the baseline)."""
    if value is None:
        return Levers()
    if isinstance(value, Levers):
        return value
    if isinstance(value, dict):
        return Levers.from_dict(value)
    raise ParameterError(f"levers: expected Levers, dict or None, got {value!r}")
