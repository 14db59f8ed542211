"""The vectorised engine and the one-object-per-agent reference agree in distribution."""

import datetime as dt

import numpy as np
import pytest

from model import Levers, Uncertainties, simulate
from model.reference import simulate_reference
from model.synthetic import synthetic_inputs

REPLICATES = 8
END = "2020-03-31"

#: Outcomes compared: totals over the run and end-of-run states.
OUTCOMES = {
    "acts": lambda w: w["acts"].sum(),
    "acts_2019": lambda w: w.loc[w.week_start.dt.year == 2019, "acts"].sum(),
    "acts_general_practitioner": lambda w: w["acts_general_practitioner"].sum(),
    "acts_doctolib": lambda w: w["acts_doctolib"].sum(),
    "adopting_doctors": lambda w: w["adopting_doctors"].iloc[-1],
    "patients_ever": lambda w: w["patients_ever"].iloc[-1],
}


def small_region_uncertainties(**changes):
    """Parameters under which a small synthetic region adopts and teleconsults within months."""
    return Uncertainties(
        p_external=0.5,
        q_imitation=2.0,
        open_share=0.3,
        awareness_media=1.0,
        awareness_doctor=5.0,
        **changes,
    )


def assert_same_distribution(engine, reference, f, name):
    a = np.array([f(w) for w in engine], dtype=float)
    b = np.array([f(w) for w in reference], dtype=float)
    se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    diff = abs(a.mean() - b.mean())
    assert b.mean() > 0
    # within 3.5 standard errors of the difference and 15% of the reference mean
    assert diff <= 3.5 * se, (name, a.mean(), b.mean(), se)
    assert diff <= 0.15 * b.mean(), (name, a.mean(), b.mean())


@pytest.fixture(scope="module")
def runs():
    # a small Île-de-France-coded region (Doctolib's first phase applies), all doctor types
    inputs = synthetic_inputs(doctors=(40, 20, 5, 5), persons=2_000, region_code="11")
    unc = small_region_uncertainties(choice_logit=-1.0)
    engine = [simulate(unc, seed=s, scale=1, inputs=inputs, end=END) for s in range(REPLICATES)]
    reference = [
        simulate_reference(inputs, unc, seed=1000 + s, end=END)["weekly"] for s in range(REPLICATES)
    ]
    return engine, reference


@pytest.mark.parametrize("outcome", sorted(OUTCOMES))
def test_engine_matches_reference_in_distribution(runs, outcome):
    engine, reference = runs
    assert_same_distribution(engine, reference, OUTCOMES[outcome], outcome)


# --- a high-volume regime: first uses dominate and capacity binds ------------------------------

HIGH_END = "2020-05-15"
LOCKDOWN = "2020-03-14"  # first week of the first lockdown (17 Mar 2020)


def _age(band):
    return lambda f: f["by_age"].loc[f["by_age"].age_band == band, "acts"].sum()


HIGH_OUTCOMES = {
    "acts": lambda f: f["weekly"]["acts"].sum(),
    "acts_lockdown": lambda f: f["weekly"].loc[f["weekly"].week_start >= LOCKDOWN, "acts"].sum(),
    "new_patients_lockdown": lambda f: (
        f["weekly"].loc[f["weekly"].week_start >= LOCKDOWN, "new_patients"].sum()
    ),
    "patients_ever": lambda f: f["weekly"]["patients_ever"].iloc[-1],
    "adopting_doctors": lambda f: f["weekly"]["adopting_doctors"].iloc[-1],
    "acts_general_practitioner": lambda f: f["weekly"]["acts_general_practitioner"].sum(),
    "acts_specialist": lambda f: f["weekly"]["acts_specialist"].sum(),
    **{f"acts_age_{band}": _age(band) for band in ("0-19", "20-39", "40-59", "60-74", "75+")},
}


def high_volume_setup(max_video_share=0.3):
    """Rules lifted and full coverage from the start, the COVID regime with strong lockdown
    demand, and a low capacity."""
    inputs = synthetic_inputs(doctors=(9, 5, 2, 2), persons=1_500, region_code="11")
    unc = small_region_uncertainties(
        choice_logit=-2.0, max_video_share=max_video_share, covid_lockdown_logit=5.0
    )
    start = dt.date(2018, 9, 15)
    levers = Levers(
        known_patient_rule_until=start,
        pathway_rule_until=start,
        full_coverage_from=start,
        covid=True,
    )
    return inputs, unc, levers


@pytest.fixture(scope="module", params=[1, 5], ids=["scale1", "scale5"])
def high_volume_runs(request):
    """At scale 5 the reference has five persons per patient agent (sharing its ties and
    thresholds, as the engine's agents do)."""
    scale = request.param
    inputs, unc, levers = high_volume_setup()
    engine = [
        simulate(unc, levers, seed=s, scale=scale, inputs=inputs, end=HIGH_END, detail=True)
        for s in range(REPLICATES)
    ]
    reference = [
        simulate_reference(inputs, unc, levers, seed=1000 + s, end=HIGH_END, scale=scale)
        for s in range(REPLICATES)
    ]
    return engine, reference


def test_high_volume_regime_is_high_volume():
    """In the lockdown weeks first uses make most acts, acts surge, and capacity binds."""
    inputs, unc, levers = high_volume_setup()
    w = simulate(unc, levers, seed=0, scale=1, inputs=inputs, end=HIGH_END)
    lockdown = w.week_start >= LOCKDOWN
    before = w.loc[~lockdown, "acts"].iloc[-4:].mean()
    assert w.loc[lockdown, "acts"].mean() > 2 * before
    assert w.loc[lockdown, "new_patients"].sum() > 0.5 * w.loc[lockdown, "acts"].sum()
    _, uncapped, _ = high_volume_setup(max_video_share=1.0)
    free = simulate(uncapped, levers, seed=0, scale=1, inputs=inputs, end=HIGH_END)
    assert free.loc[lockdown, "acts"].sum() > 1.5 * w.loc[lockdown, "acts"].sum()


@pytest.mark.parametrize("outcome", sorted(HIGH_OUTCOMES))
def test_engine_matches_reference_at_high_volume(high_volume_runs, outcome):
    engine, reference = high_volume_runs
    assert_same_distribution(engine, reference, HIGH_OUTCOMES[outcome], outcome)
