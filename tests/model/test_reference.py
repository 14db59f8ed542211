"""The vectorised engine and the one-object-per-agent reference agree in distribution."""

import datetime as dt
from dataclasses import replace

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
        external_rate_urban=0.42,
        q_imitation=2.0,
        open_share_urban=0.84,
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
    unc = small_region_uncertainties(choice_level=-1.6)
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
        choice_level=-2.6,
        max_video_share=max_video_share,
        lockdown_choice=5.0,
        lockdown_need_drop=0.0,
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
    before = w.loc[w.week_start < "2020-02-15", "acts"].iloc[-4:].mean()  # before the index rose
    assert w.loc[lockdown, "acts"].mean() > 2 * before
    assert w.loc[lockdown, "new_patients"].sum() > 0.5 * w.loc[lockdown, "acts"].sum()
    _, uncapped, _ = high_volume_setup(max_video_share=1.0)
    free = simulate(uncapped, levers, seed=0, scale=1, inputs=inputs, end=HIGH_END)
    assert free.loc[lockdown, "acts"].sum() > 1.5 * w.loc[lockdown, "acts"].sum()


@pytest.mark.parametrize("outcome", sorted(HIGH_OUTCOMES))
def test_engine_matches_reference_at_high_volume(high_volume_runs, outcome):
    engine, reference = high_volume_runs
    assert_same_distribution(engine, reference, HIGH_OUTCOMES[outcome], outcome)


# --- the 2020 regime as it happened: every hook of the pandemic and its levers -----------------

REGIME_END = "2020-09-30"
SUMMER = ("2020-07-01", "2020-08-31")


def _between(column, lo, hi):
    return lambda f: f["weekly"].loc[f["weekly"].week_start.between(lo, hi), column].sum()


REGIME_OUTCOMES = {
    "acts": lambda f: f["weekly"]["acts"].sum(),
    "acts_lockdown": _between("acts", "2020-03-14", "2020-05-10"),
    "acts_summer": _between("acts", *SUMMER),
    "acts_own_mt": lambda f: f["weekly"]["acts_own_mt"].sum(),
    "billing_doctors_week_liberal": lambda f: f["weekly"]["billing_doctors_week_liberal"].sum(),
    "billing_doctors_week_gp": lambda f: f["weekly"]["billing_doctors_week_gp"].sum(),
    "new_patients_phone": lambda f: f["weekly"]["new_patients_phone"].sum(),
    "patients_ever": lambda f: f["weekly"]["patients_ever"].iloc[-1],
    "open_doctors": lambda f: f["weekly"]["open_doctors"].iloc[-1],
    "acts_age_75+": _age("75+"),
}


def regime_setup():
    """The history with COVID and the rules of the time (so that the waiver matters), strong
    lockdown demand and pressure on doctors (half of it felt by the second line), the lockdown's
    calls to teleconsult (awareness), a phone channel, an August drop, a low capacity.
    No pharmacy points (in so small a region their catchment would make everyone capable)."""
    inputs = synthetic_inputs(
        doctors=(9, 5, 2, 2),
        persons=1_500,
        region_code="11",
        constants={"pharmacy_points_end_2019": 0.0},
    )
    unc = small_region_uncertainties(
        choice_level=-2.6,
        max_video_share=0.3,
        lockdown_choice=4.0,
        lockdown_memory=2.0,
        lockdown_open=3.0,
        lockdown_pull=20.0,
        lockdown_second_line_pressure=0.5,
        lockdown_second_line_lag_weeks=2.0,
        phone_choice=1.0,
        covid_waiver_reach=0.5,
        lockdown_awareness=5.0,
        summer_need_drop=0.4,
        repeat_need_ratio=2.0,
    )
    return inputs, replace(unc, open_share_urban=0.57), Levers(covid=True)


@pytest.fixture(scope="module")
def regime_runs():
    inputs, unc, levers = regime_setup()
    engine = [
        simulate(unc, levers, seed=s, scale=1, inputs=inputs, end=REGIME_END, detail=True)
        for s in range(REPLICATES)
    ]
    reference = [
        simulate_reference(inputs, unc, levers, seed=1000 + s, end=REGIME_END)
        for s in range(REPLICATES)
    ]
    return engine, reference


def test_regime_exercises_every_hook(regime_runs):
    """The runs compared below do go through the hooks: doctors open under pressure, phone-only
    patients teleconsult, acts on the médecin-traitant tie and weekly billing doctors are
    counted."""
    engine, _ = regime_runs
    w = engine[0]["weekly"]
    assert w["new_patients_phone"].sum() > 0
    before = w.loc[w.week_start < "2020-03-01", "open_doctors"].iloc[-1]
    assert w["open_doctors"].iloc[-1] > before
    assert 0 < w["acts_own_mt"].sum() < w["acts"].sum()
    assert w["billing_doctors_week_liberal"].max() > 0


@pytest.mark.parametrize("outcome", sorted(REGIME_OUTCOMES))
def test_engine_matches_reference_in_the_2020_regime(regime_runs, outcome):
    engine, reference = regime_runs
    assert_same_distribution(engine, reference, REGIME_OUTCOMES[outcome], outcome)
