"""Behaviour of the national model: reproducibility, conservation, rules, errors."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from model import DEFAULT_SCALE, Levers, ParameterError, Uncertainties, run_model, simulate
from model.inputs import load_inputs
from model.policy import lockdown_demand

END = "2019-09-15"  # the training period: short and cheap, but covers every mechanism


@pytest.fixture(scope="module")
def baseline():
    return simulate(Uncertainties(), seed=3, end=END, detail=True)


def test_same_seed_gives_identical_frames_and_other_seeds_differ(baseline):
    again = simulate(Uncertainties(), seed=3, end=END, detail=True)
    for name, frame in baseline.items():
        pd.testing.assert_frame_equal(frame, again[name])
    other = simulate(Uncertainties(), seed=4, end=END)
    assert not other["acts"].equals(baseline["weekly"]["acts"])


def test_interface_columns_and_weeks(baseline):
    weekly = baseline["weekly"]
    for col in [
        "week_start",
        "acts",
        "acts_general_practitioner",
        "acts_specialist",
        "acts_health_centre",
        "acts_hospital",
        "adopting_doctors",
        "patients_ever",
    ]:
        assert col in weekly
    starts = weekly["week_start"]
    assert starts.iloc[0] == pd.Timestamp("2018-09-15")  # nothing before reimbursement
    assert (starts.diff().dropna() == pd.Timedelta(days=7)).all()
    assert starts.iloc[-1] <= pd.Timestamp(END) < starts.iloc[-1] + pd.Timedelta(days=7)
    assert set(baseline["by_region"]["region_code"]) == set(load_inputs().regions.region_code)
    assert set(baseline["by_platform"]["platform"]) == {"doctolib", "other"}


def test_breakdowns_add_up_to_the_total(baseline):
    weekly = baseline["weekly"].set_index("week_start")
    by_type = weekly[
        ["acts_general_practitioner", "acts_specialist", "acts_health_centre", "acts_hospital"]
    ].sum(axis=1)
    assert (by_type == weekly["acts"]).all()
    for name in ["by_region", "by_platform", "by_age"]:
        sums = baseline[name].groupby("week_start")["acts"].sum()
        assert (sums == weekly["acts"]).all(), name
    new = baseline["by_age"].groupby("week_start")["new_patients"].sum()
    assert (new.cumsum() == weekly["patients_ever"]).all()


def test_counts_never_revert_and_stay_within_the_population(baseline):
    weekly = baseline["weekly"]
    for col in ["adopting_doctors", "patients_ever", "billing_doctors_liberal", "open_doctors"]:
        assert (np.diff(weekly[col]) >= 0).all(), col
    inputs = load_inputs()
    assert weekly["adopting_doctors"].iloc[-1] <= inputs.doctors_by_type.sum()
    assert weekly["patients_ever"].iloc[-1] <= inputs.regions.population.sum()
    assert (weekly["acts"] >= 0).all()


def test_agents_are_conserved_and_acts_respect_needs_and_capacity():
    model = run_model(Uncertainties(), seed=5, end="2018-09-15")  # one week, then step by hand
    inputs = load_inputs()
    n_doctors, n_patients = model.pop.doctors.n, model.pop.patients.n
    assert n_doctors == inputs.doctors_by_type.sum()  # one agent per doctor
    persons = model.pop.persons_by_region.sum()
    assert abs(persons - inputs.regions.population.sum()) <= DEFAULT_SCALE * inputs.n_regions
    model.n_weeks = 60
    model._alloc_outputs()
    model._demand = lockdown_demand(model.inputs, model.levers, model.unc, model.n_weeks)
    adopted_before = model.adopted.copy()
    weekly_needs = model.pop.doctors.volume.sum()  # in-person consultations a week, all doctors
    while model.week < model.n_weeks:
        model.step()
        k = model.week - 1
        assert (model.adopted | ~adopted_before).all()  # nobody un-adopts
        adopted_before = model.adopted.copy()
        acts = model.out_acts_type[k].sum()
        assert acts <= weekly_needs
        cap = np.ceil(model.unc.max_video_share * model.pop.doctors.volume[model.adopted]).sum()
        assert acts <= cap
        assert (model.users <= model.pop.scale).all()
    assert model.pop.doctors.n == n_doctors and model.pop.patients.n == n_patients


@pytest.mark.parametrize("seed", [1, 2])
def test_lifting_the_known_patient_rule_never_lowers_acts(seed):
    ruled = simulate(Uncertainties(), seed=seed, end=END)
    lifted = simulate(
        Uncertainties(), Levers(known_patient_rule_until=dt.date(2018, 9, 15)), seed=seed, end=END
    )
    # same doctors adopt on the same seed: the rule is on the patient side
    assert (lifted["adopting_doctors"] == ruled["adopting_doctors"]).all()
    # (the two runs' draws part once acts differ: compare once counts are past the noise)
    settled = ruled["acts"].cumsum() >= 1000
    assert settled.sum() > 20
    assert (lifted["acts"].cumsum()[settled] >= ruled["acts"].cumsum()[settled]).all()
    assert lifted["acts"].sum() > ruled["acts"].sum()


def test_no_platform_acts_before_its_launch(baseline):
    launch = pd.Timestamp("2019-01-13")
    by_platform = baseline["by_platform"]
    doctolib = by_platform[by_platform.platform == "doctolib"]
    before = doctolib[doctolib.week_start + pd.Timedelta(days=6) < launch]
    assert len(before) > 10 and (before["acts"] == 0).all()
    assert doctolib["acts"].sum() > 0
    late = simulate(Uncertainties(), Levers(doctolib_launch=dt.date(2019, 6, 1)), seed=3, end=END)
    assert (
        late.loc[late.week_start + pd.Timedelta(days=6) < "2019-06-01", "acts_doctolib"] == 0
    ).all()
    none = simulate(Uncertainties(), Levers(doctolib=False), seed=3, end=END)
    assert none["acts_doctolib"].sum() == 0


def test_orders_of_magnitude_with_planning_defaults(baseline):
    """Right order, not a fit: hundreds a week end 2018, thousands by autumn 2019, IdF ahead."""
    weekly = baseline["weekly"].set_index("week_start")["acts"]
    assert 50 <= weekly["2018-12-01":"2018-12-31"].mean() <= 1_000
    assert 1_000 <= weekly["2019-09-01":].mean() <= 30_000
    by_region = baseline["by_region"].groupby("region_code")["acts"].sum()
    regions = load_inputs().regions.set_index("region_code")
    idf_acts = by_region["11"] / by_region.sum()
    idf_pop = regions.population["11"] / regions.population.sum()
    assert idf_acts > 1.5 * idf_pop


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"seed": -1}, ["seed", "-1"]),
        ({"scale": 0}, ["scale", "[1, 100000]"]),
        ({"end": "2017-01-01"}, ["end", "2017-01-01", "2018-09-15"]),
        ({"end": "soon"}, ["end", "soon"]),
        ({"uncertainties": {"q_imitation": -2.0}}, ["q_imitation", "-2.0", "[0.0, 10.0]"]),
        ({"uncertainties": {"gravity": 1.0}}, ["gravity"]),
        ({"levers": {"coverage_rate": 1.5}}, ["coverage_rate", "1.5", "[0.0, 1.0]"]),
        ({"levers": {"covid": "yes"}}, ["covid", "boolean"]),
    ],
)
def test_bad_inputs_name_the_field_and_range(kwargs, words):
    with pytest.raises(ParameterError) as err:
        simulate(**{"end": "2018-10-01", **kwargs})
    for word in words:
        assert word in str(err.value)
