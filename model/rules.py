"""The behavioural rules, as pure functions shared by the vectorised engine and the reference model.

Each function works on scalars and on numpy arrays alike, so the per-object reference
implementation (``model/reference.py``) and the struct-of-arrays engine (``model/model.py``) apply
literally the same formulas: any difference between them is in bookkeeping, never in behaviour.
"""

from __future__ import annotations

import numpy as np

from .calendar import WEEKS_PER_YEAR

#: The co-payment at which ``choice_level`` is fitted: 30%, the 2018-2019 coverage rate of 70%
#: (``coverage_rate_2018`` in ``model/data/constants.csv``; a test checks they agree). Measuring
#: the co-payment's effect from there keeps ``choice_copay`` out of the 2018-2019 fit, where the
#: coverage never moved, so the two parameters are not confounded.
REFERENCE_COPAY = 0.3


def logistic(x):
    """Inverse logit, numerically safe for large |x|."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=float)))


def logit(p: float) -> float:
    """Log-odds of a probability strictly between 0 and 1 (clipped to stay finite)."""
    p = float(np.clip(p, 1e-12, 1 - 1e-12))
    return float(np.log(p / (1 - p)))


def weekly_probability(hazard_per_year):
    """Probability that an event with a constant yearly hazard happens within one week."""
    return -np.expm1(-np.asarray(hazard_per_year, dtype=float) / WEEKS_PER_YEAR)


# --- doctors ------------------------------------------------------------------------------------


def openness_effects(unc, age60, urban, group, doctor_type):
    """Log-odds shift of a doctor's openness to video, from their own attributes.

    Doctor types are indexed as in ``model.inputs.DOCTOR_TYPES``: 0 GP, 1 specialist,
    2 health centre, 3 hospital.
    """
    type_effect = np.array([0.0, unc.open_specialist, unc.open_health_centre, unc.open_hospital])[
        doctor_type
    ]
    return (
        unc.open_age60 * np.asarray(age60, dtype=float)
        + unc.open_urban * (np.asarray(urban, dtype=float) - 1.0)
        + unc.open_group * np.asarray(group, dtype=float)
        + type_effect
    )


def open_probability(open_share: float, effects):
    """Probability of being open to video given the reference share and one's own effects."""
    return logistic(logit(open_share) + effects)


def adoption_hazard(p_external: float, pull, q_imitation: float, peer_share, multiplier):
    """Yearly adoption hazard of an open doctor: the Bass form p*pull + q*F, times policy effects.

    ``pull`` is the sum of the available platforms' attraction (0 when no platform offers video to
    this doctor, which also switches imitation off: one cannot adopt without a tool).
    """
    pull = np.asarray(pull, dtype=float)
    return np.where(pull > 0, (p_external * pull + q_imitation * peer_share) * multiplier, 0.0)


def doctolib_choice_probability(doctolib_pull, other_pull):
    """Probability that an adopting doctor takes Doctolib rather than another platform."""
    doctolib_pull = np.asarray(doctolib_pull, dtype=float)
    total = doctolib_pull + other_pull
    return np.divide(doctolib_pull, total, out=np.zeros_like(doctolib_pull), where=total > 0)


# --- patients -----------------------------------------------------------------------------------


def eligible(known, via_pathway, exception, known_rule: bool, pathway_rule: bool):
    """Whether a (patient, doctor) pair may bill a reimbursed teleconsultation this week.

    The known-patient rule asks that the patient was seen in person by this doctor in the last
    12 months; the pathway rule that the consultation goes through the médecin traitant. An
    exception (under 16, no médecin traitant, a waiver) lifts both.
    """
    known_ok = np.logical_or(not known_rule, np.logical_or(known, exception))
    path_ok = np.logical_or(not pathway_rule, np.logical_or(via_pathway, exception))
    return np.logical_and(known_ok, path_ok)


def eligible_share(eligible_, waiver: float):
    """Share of needs that may be billed: the eligible ones, and among the others the share
    ``waiver`` for which the rules are waived (Covid patients, a waiver lever)."""
    e = np.asarray(eligible_, dtype=float)
    return e + (1.0 - e) * waiver


def by_line(first: float, second: float, second_line):
    """Each doctor's value of a lockdown term: ``second`` for specialists and hospital doctors
    (``second_line``), ``first`` for the others."""
    return np.where(np.asarray(second_line, dtype=bool), second, first)


def capability_threshold(base_capable, boost: float):
    """Share able to do a video consultation after inclusion levers lift a share of the rest."""
    base = np.asarray(base_capable, dtype=float)
    return base + boost * (1.0 - base)


def awareness_probability(region_hazard, doctor_years, awareness_doctor: float):
    """Probability a patient knows of the offer: regional exposure plus their doctor's own offer."""
    return -np.expm1(
        -(np.asarray(region_hazard, dtype=float) + awareness_doctor * np.asarray(doctor_years))
    )


#: The age bands' weights (0-19, 20-39, 40-59, 60-74, 75+) in ``choice_level``, the mean log-odds
#: of the choice over the bands: 2018-2019's acts by age band at the best set of 6 Dec 2026 (0.065,
#: 0.497, 0.248, 0.140, 0.050 on seeds 1 and 2 at 1 agent per 100 persons), rounded to 0.05. They
#: are a choice of coordinates, not a figure: any weights give the same family of age profiles.
#: These make the level the one the counts pin (the level of the bands that make the acts), so the
#: level no longer trades off with the age gaps as the 40-59 band's did (docs/calibration.md).
CHOICE_AGE_WEIGHTS: tuple[float, ...] = (0.05, 0.50, 0.25, 0.15, 0.05)


def age_logits(unc) -> np.ndarray:
    """The five age bands' log-odds of choosing video (0-19 … 75+), before desert and co-payment.

    From 40-59 up the profile is linear (``choice_age`` a band); 20-39 sits
    ``choice_young_senior_gap`` above 60-74 and 0-19 ``choice_child_gap`` above 75+; the weighted
    mean of the five is ``choice_level`` (see :class:`model.params.Uncertainties` for why). Written
    from the 40-59 band's level ``mid``, the mean is ``mid + w0 (2a + c) + w1 (a + s) + w3 a +
    2 w4 a``, which gives ``mid``.
    """
    w0, w1, _, w3, w4 = CHOICE_AGE_WEIGHTS
    a, c, s = unc.choice_age, unc.choice_child_gap, unc.choice_young_senior_gap
    mid = unc.choice_level - (2.0 * w0 + w1 + w3 + 2.0 * w4) * a - w0 * c - w1 * s
    return np.array([mid + 2.0 * a + c, mid + a + s, mid, mid + a, mid + 2.0 * a])


def choice_logit(unc, age_band, desert, copay_share: float, shift: float):
    """Log-odds of choosing video for a need, for a first-time user.

    The age term is :func:`age_logits`'s for the patient's band. ``copay_share`` is the patient's
    share of the tariff (1 - coverage); its effect is counted from :data:`REFERENCE_COPAY`.
    """
    return (
        age_logits(unc)[np.asarray(age_band, dtype=np.int64)]
        + unc.choice_desert * np.asarray(desert, dtype=float)
        - unc.choice_copay * (copay_share - REFERENCE_COPAY)
        + shift
    )


def choice_probability(logit_new, users_share, repeat_odds: float):
    """Probability of choosing video, mixing first-time users and repeat users of a cohort."""
    p_new = logistic(logit_new)
    p_rep = logistic(np.asarray(logit_new) + np.log(repeat_odds))
    f = np.asarray(users_share, dtype=float)
    return f * p_rep + (1.0 - f) * p_new
