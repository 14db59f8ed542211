"""The payer's rules, the platforms' offer and the pandemic's demand, resolved week by week.

One :class:`WeekPolicy` per week is all the engine and the reference model read about policy, so a
lever can only act through the fields below: a reader can check what each lever changes here.

Two sources of change are kept apart, so that a scenario can have either without the other:

* **regulatory changes** (the rules' waiver, 100% coverage, free platforms, phone teleconsultation,
  Avenant 9), each its own dated lever; ``Levers(covid=True)`` adds their dated history
  (``events.csv``), one ``covid_*`` switch per change;
* **lockdown demand**, driven by the OxCGRT stringency index (:class:`LockdownDemand`): patients
  would rather avoid the waiting room while restrictions above a level last (``lockdown_choice``
  per unit of the index above ``lockdown_threshold``: the summer of 2020 kept an index near 50
  with masks and limits on gatherings, yet consultations went back to the office), part of that
  lingers and fades (``lockdown_memory``, half-life ``lockdown_memory_weeks``), fewer needs arise
  (``lockdown_need_drop``), and doctors under pressure open up (``lockdown_open``, a ratchet on the
  highest stringency so far: equipped doctors stay equipped) and adopt faster (``lockdown_pull``).
  Patients and doctors take a rise of the index in over weeks (``lockdown_uptake_weeks``: in the
  first week of the first lockdown, index 88 from 17 March 2020, acts were a sixth of the
  following week's and a fourteenth of the peak three weeks on), while needs drop at once.
  The three lockdowns are the index's three plateaus: none has a parameter of its own.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .calendar import DAYS_PER_WEEK, first_week_in_force, in_force, week_start
from .params import Levers, Uncertainties

#: The dated history of each regulatory change under ``Levers(covid=True)``: event keys of
#: ``events.csv`` as (start, last day) periods, and the ``covid_*`` switch that keeps it.
HISTORY = {
    "rules_waiver": ("covid_rules_waiver", (("covid_rules_waived", "covid_rules_waived_end"),)),
    "full_coverage": (
        "covid_full_coverage",
        (("covid_full_coverage", "covid_full_coverage_end"),),
    ),
    "free_platforms": ("covid_free_platforms", (("covid_platforms_free", None),)),
    "phone": (
        "covid_phone",
        (("phone_start_1", "phone_end_1"), ("phone_start_2", "phone_end_2")),
    ),
    "avenant9": ("covid_avenant9", (("avenant9_in_force", None),)),
}


@dataclass(frozen=True)
class WeekPolicy:
    """What holds during one week."""

    reimbursed: bool  # teleconsultation is reimbursed at all
    known_rule: bool  # patient must have been seen in person by this doctor within 12 months
    pathway_rule: bool  # consultation must go through the médecin traitant
    desert_waiver: float  # share of under-served-area patients for whom both rules are waived
    rules_waiver: float  # share of needs for which both rules are waived (Covid patients, lever)
    known_waived_desert: bool  # Avenant 9: no known-patient rule for under-served areas' patients
    coverage: float  # share of the tariff paid by the national insurance
    other_available: bool  # the other video platforms are open to every doctor
    doctolib_first: bool  # Doctolib video open to its Île-de-France GP clients
    doctolib_all: bool  # Doctolib video open to all its clients
    doctolib_price_eur: float
    subsidy_eur: float  # equipment aid a doctor adopting this week can claim
    open_share: float  # openness of the urban reference doctor (Uncertainties.open_share_urban)
    open_shift: float  # log-odds shift of every doctor's openness (pressure; only ever rises)
    second_line_open_shift: float  # the same for specialists and hospital doctors
    external_multiplier: float  # multiplier on the external adoption pull (first line)
    second_line_external_multiplier: float  # the same for specialists and hospital doctors
    choice_shift: float  # log-odds shift of patients' video choice
    need_factor: float  # multiplier of consultation needs (lockdowns, August)
    second_line_need_factor: float  # extra multiplier for specialists and hospital doctors
    phone: bool  # audio-only acts reimbursed: the video barrier is lifted
    capacity_share: float  # largest share of a doctor's weekly activity that can go remote
    campaign: float  # extra awareness hazard per year from a national campaign
    lockdown_awareness: float  # awareness hazard per year from the lockdown's calls and media
    capability_boost: float  # share of the digitally excluded enabled (pharmacies, inclusion)
    stringency: float  # OxCGRT stringency index of the week, in [0, 1] (0: no pandemic)


@dataclass(frozen=True)
class LockdownDemand:
    """The pandemic's weekly demand signals for one run (all zero without it)."""

    stringency: np.ndarray  # weekly mean of the daily index, in [0, 1]
    response: np.ndarray  # the index as patients and doctors have taken it in (rises lag)
    peak: np.ndarray  # highest weekly response so far
    excess: np.ndarray  # stringency above lockdown_threshold, rescaled to [0, 1]
    memory: np.ndarray  # remembered stringency: the index, or what is left of a higher past
    # value, fading with a half-life in weeks
    second_response: np.ndarray  # the response of specialists and hospital doctors (slower)
    second_peak: np.ndarray  # its highest weekly value so far

    @classmethod
    def none(cls, n_weeks: int) -> LockdownDemand:
        z = np.zeros(n_weeks)
        return cls(z, z, z, z, z, z, z)


def weekly_stringency(daily: np.ndarray, first_day: dt.date, n_weeks: int) -> np.ndarray:
    """Mean of a daily index (0-100, from ``first_day``) over each model week, in [0, 1].

    Days before the series count as 0 (no measure); days after it keep its last value.
    """
    start = (week_start(0) - first_day).days
    days = start + np.arange(n_weeks * DAYS_PER_WEEK)
    values = np.where(days < 0, 0.0, np.asarray(daily, float)[np.clip(days, 0, len(daily) - 1)])
    return values.reshape(n_weeks, DAYS_PER_WEEK).mean(axis=1) / 100.0


def uptake(index: np.ndarray, half_life_weeks: float) -> np.ndarray:
    """The index as behaviour follows it: a rise is taken in gradually, a fall at once.

    Each week closes ``1 - 0.5 ** (1 / half_life_weeks)`` of the gap to a higher index (patients
    learn to book remotely, doctors get equipped and change how they run their lists); when the
    index falls the response falls with it (what lingers is ``lockdown_memory``'s). A half-life
    of 0 follows the index exactly.
    """
    index = np.asarray(index, float)
    if half_life_weeks <= 0.0:
        return index.copy()
    gain = 1.0 - 0.5 ** (1.0 / half_life_weeks)
    out = np.empty_like(index)
    r = 0.0
    for k, x in enumerate(index):
        r = x if x <= r else r + gain * (x - r)
        out[k] = r
    return out


def lockdown_demand(inputs, levers: Levers, unc: Uncertainties, n_weeks: int) -> LockdownDemand:
    """The run's demand signals: the stringency index if the pandemic is on, else zeros."""
    if not (levers.covid and levers.covid_demand):
        return LockdownDemand.none(n_weeks)
    s = weekly_stringency(inputs.stringency, inputs.stringency_start, n_weeks)
    r = uptake(s, unc.lockdown_uptake_weeks)
    threshold = unc.lockdown_threshold
    excess = np.clip((r - threshold) / (1.0 - threshold), 0.0, 1.0)
    keep = 0.5 ** (1.0 / unc.lockdown_memory_weeks)
    memory = np.empty(n_weeks)
    m = 0.0
    for k in range(n_weeks):
        m = max(excess[k], keep * m)
        memory[k] = m
    second = uptake(s, unc.lockdown_uptake_weeks + unc.lockdown_second_line_lag_weeks)
    return LockdownDemand(
        s, r, np.maximum.accumulate(r), excess, memory, second, np.maximum.accumulate(second)
    )


def august_share(week: int) -> float:
    """Share of the week's days that fall in August."""
    return summer_dip(week, 0.0)


#: The day the summer break's need dip is deepest when it is not flat: 15 August (Assumption Day,
#: a public holiday around which the French summer break is taken; structural assumption).
SUMMER_PEAK_DAY = (8, 15)


def _bell(offsets: np.ndarray, width_days: float) -> np.ndarray:
    return np.exp(-0.5 * (offsets / width_days) ** 2)


@lru_cache(maxsize=64)
def _august_mean(width_days: float) -> float:
    """Mean of the bell over the 31 days of August (its scale: August's mean weight is 1)."""
    peak = dt.date(2019, *SUMMER_PEAK_DAY)
    offsets = np.array([(dt.date(2019, 8, d) - peak).days for d in range(1, 32)], float)
    return float(_bell(offsets, width_days).mean())


def summer_dip(week: int, width_days: float) -> float:
    """The week's weight in the August need dip (the mean over its days; 1 on average over August).

    ``width_days`` 0 keeps every day of August alike (:func:`august_share`). Otherwise the dip is
    a bell around 15 August with that standard deviation, scaled so that its mean over the days
    of August is 1: August as a month still loses ``summer_need_drop`` of its needs, but the weeks
    around 15 August lose more, the first and last days of August less, and late July and early
    September a little. Why: the training figures see August 2019 as a whole month and August
    2020 as its third week (17-23 August), which a flat month cannot tell apart.
    """
    first = week_start(week)
    days = (first + dt.timedelta(days=d) for d in range(DAYS_PER_WEEK))
    return sum(summer_day_weight(day, width_days) for day in days) / DAYS_PER_WEEK


def summer_day_weight(day: dt.date, width_days: float) -> float:
    """One day's weight in the August need dip (see :func:`summer_dip`)."""
    if width_days <= 0.0:
        return float(day.month == 8)
    offset = (day - dt.date(day.year, *SUMMER_PEAK_DAY)).days
    return float(_bell(np.float64(offset), width_days)) / _august_mean(float(width_days))


def _history(week: int, levers: Levers, ev: dict, change: str) -> bool:
    """Whether ``change`` is in force in ``week`` as it happened (only with ``covid``)."""
    switch, periods = HISTORY[change]
    if not (levers.covid and getattr(levers, switch)):
        return False
    return any(in_force(week, ev[a], ev[b] if b else None) for a, b in periods)


def week_policy(
    week: int,
    levers: Levers,
    unc: Uncertainties,
    events: dict,
    constants: dict,
    population: float,
    demand: LockdownDemand | None = None,
) -> WeekPolicy:
    """Resolve the levers, dated events and the pandemic's demand into what holds in ``week``."""
    ev = events
    reimbursed = in_force(week, ev["reimbursement_start"])

    known_rule = in_force(week, ev["known_patient_rule_start"], levers.known_patient_rule_until)
    pathway_rule = in_force(week, ev["pathway_rule_start"], levers.pathway_rule_until)
    waiver = (
        levers.rules_waiver_scope
        if in_force(week, levers.rules_waiver_from, levers.rules_waiver_until)
        else 0.0
    )
    if _history(week, levers, ev, "rules_waiver"):
        waiver = 1.0 - (1.0 - waiver) * (1.0 - unc.covid_waiver_reach)

    coverage = levers.coverage_rate
    if in_force(week, levers.full_coverage_from, levers.full_coverage_until) or _history(
        week, levers, ev, "full_coverage"
    ):
        coverage = 1.0

    launch = levers.doctolib_launch
    doctolib_first = levers.doctolib and in_force(week, launch)
    if levers.doctolib_everywhere_at_launch:
        doctolib_all = doctolib_first
    else:
        first = first_week_in_force(launch)
        doctolib_all = levers.doctolib and week >= first + round(unc.doctolib_rollout_weeks)
    price = levers.doctolib_price_eur
    if in_force(week, levers.platforms_free_from, levers.platforms_free_until) or _history(
        week, levers, ev, "free_platforms"
    ):
        price = 0.0

    subsidy = levers.equipment_subsidy_eur if in_force(week, levers.equipment_subsidy_from) else 0.0

    phone = in_force(week, levers.phone_from, levers.phone_until) or _history(
        week, levers, ev, "phone"
    )
    avenant9 = in_force(week, levers.avenant9_from) or _history(week, levers, ev, "avenant9")
    capacity = unc.max_video_share
    if avenant9:
        capacity = min(capacity, constants["avenant9_activity_cap"])

    s = response = peak = excess = memory = second_response = second_peak = 0.0
    if demand is not None:
        s, response, peak, excess, memory, second_response, second_peak = (
            float(demand.stringency[week]),
            float(demand.response[week]),
            float(demand.peak[week]),
            float(demand.excess[week]),
            float(demand.memory[week]),
            float(demand.second_response[week]),
            float(demand.second_peak[week]),
        )
    second_pressure = unc.lockdown_second_line_pressure
    summer = max(0.0, 1.0 - unc.summer_need_drop * summer_dip(week, unc.summer_peak_days))
    need = (1.0 - unc.lockdown_need_drop * s) * summer

    points = 0.0
    if in_force(week, ev["pharmacy_kiosks_start"]):
        points += constants["pharmacy_points_end_2019"]
    if in_force(week, levers.pharmacy_points_from):
        points += levers.pharmacy_points
    pharmacy_cover = min(1.0, points * constants["pharmacy_catchment_persons"] / population)
    inclusion = levers.digital_inclusion if week >= 0 else 0.0
    boost = 1.0 - (1.0 - inclusion) * (1.0 - pharmacy_cover)

    return WeekPolicy(
        reimbursed=reimbursed,
        known_rule=known_rule,
        pathway_rule=pathway_rule,
        desert_waiver=levers.target_deserts if in_force(week, levers.target_deserts_from) else 0.0,
        rules_waiver=waiver,
        known_waived_desert=avenant9,
        coverage=coverage,
        other_available=in_force(week, ev["reimbursement_start"]),
        doctolib_first=doctolib_first,
        doctolib_all=doctolib_all,
        doctolib_price_eur=price,
        subsidy_eur=subsidy,
        open_share=unc.open_share_urban,
        open_shift=unc.lockdown_open * peak,
        external_multiplier=1.0 + unc.lockdown_pull * response,
        second_line_open_shift=second_pressure * unc.lockdown_open * second_peak,
        second_line_external_multiplier=1.0 + second_pressure * unc.lockdown_pull * second_response,
        choice_shift=unc.lockdown_choice * excess + unc.lockdown_memory * memory,
        need_factor=need,
        second_line_need_factor=1.0 - unc.lockdown_specialist_drop * s,
        phone=phone,
        capacity_share=capacity,
        campaign=levers.awareness_campaign
        if in_force(week, levers.awareness_campaign_from)
        else 0.0,
        lockdown_awareness=unc.lockdown_awareness * s,
        capability_boost=boost,
        stringency=s,
    )
