"""The payer's rules and the platforms' offer, resolved week by week from levers and dated events.

One :class:`WeekPolicy` per week is all the engine and the reference model read about policy, so a
lever can only act through the fields below: a reader can check what each lever changes here.
"""

from __future__ import annotations

from dataclasses import dataclass

from .calendar import first_week_in_force, in_force
from .params import Levers, Uncertainties

LOCKDOWNS = (
    ("covid_lockdown1_start", "covid_lockdown1_end"),
    ("covid_lockdown2_start", "covid_lockdown2_end"),
    ("covid_lockdown3_start", "covid_lockdown3_end"),
)


@dataclass(frozen=True)
class WeekPolicy:
    """What holds during one week."""

    reimbursed: bool  # teleconsultation is reimbursed at all
    known_rule: bool  # patient must have been seen in person by this doctor within 12 months
    pathway_rule: bool  # consultation must go through the médecin traitant
    desert_waiver: float  # share of under-served-area patients for whom both rules are waived
    coverage: float  # share of the tariff paid by the national insurance
    other_available: bool  # the other video platforms are open to every doctor
    doctolib_first: bool  # Doctolib video open to its Île-de-France GP clients
    doctolib_all: bool  # Doctolib video open to all its clients
    doctolib_price_eur: float
    subsidy_eur: float  # equipment aid a doctor adopting this week can claim
    open_share: float  # openness of reference doctors
    external_multiplier: float  # multiplier on the external adoption pull
    choice_shift: float  # log-odds shift of patients' video choice
    campaign: float  # extra awareness hazard per year from a national campaign
    capability_boost: float  # share of the digitally excluded enabled (pharmacies, inclusion)
    lockdown: bool


def week_policy(
    week: int, levers: Levers, unc: Uncertainties, events: dict, constants: dict, population: float
) -> WeekPolicy:
    """Resolve the levers and the dated events into what holds in ``week``."""
    ev = events
    reimbursed = in_force(week, ev["reimbursement_start"])
    covid_on = levers.covid and in_force(week, ev["covid_lockdown1_start"])
    rules_waived = levers.covid and in_force(week, ev["covid_rules_waived"])

    known_rule = in_force(week, ev["known_patient_rule_start"], levers.known_patient_rule_until)
    pathway_rule = in_force(week, ev["pathway_rule_start"], levers.pathway_rule_until)
    if rules_waived:
        known_rule = pathway_rule = False

    coverage = levers.coverage_rate
    if in_force(week, levers.full_coverage_from):
        coverage = 1.0
    if levers.covid and in_force(week, ev["covid_full_coverage"], ev["covid_full_coverage_end"]):
        coverage = 1.0

    launch = levers.doctolib_launch
    doctolib_first = levers.doctolib and in_force(week, launch)
    if levers.doctolib_everywhere_at_launch:
        doctolib_all = doctolib_first
    else:
        first = first_week_in_force(launch)
        doctolib_all = levers.doctolib and week >= first + round(unc.doctolib_rollout_weeks)
    price = levers.doctolib_price_eur
    if in_force(week, levers.platforms_free_from) or (
        levers.covid and in_force(week, ev["covid_platforms_free"])
    ):
        price = 0.0

    subsidy = levers.equipment_subsidy_eur if in_force(week, levers.equipment_subsidy_from) else 0.0

    lockdown = levers.covid and any(in_force(week, ev[a], ev[b]) for a, b in LOCKDOWNS)
    if lockdown:
        shift = unc.covid_lockdown_logit
    elif covid_on:
        shift = unc.covid_after_logit
    else:
        shift = 0.0

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
        coverage=coverage,
        other_available=in_force(week, ev["reimbursement_start"]),
        doctolib_first=doctolib_first,
        doctolib_all=doctolib_all,
        doctolib_price_eur=price,
        subsidy_eur=subsidy,
        open_share=max(unc.open_share, unc.covid_open_share) if covid_on else unc.open_share,
        external_multiplier=unc.covid_pull if covid_on else 1.0,
        choice_shift=shift,
        campaign=levers.awareness_campaign
        if in_force(week, levers.awareness_campaign_from)
        else 0.0,
        capability_boost=boost,
        lockdown=lockdown,
    )
