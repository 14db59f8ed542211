"""The first lockdown's calls to prefer teleconsultation: an awareness hazard per unit of the
week's stringency index (``lockdown_awareness``), added to every region's exposure in both engines,
nothing before the pandemic and nothing without it."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from model import Levers, Uncertainties, simulate
from model.calendar import WEEKS_PER_YEAR, n_weeks_until
from model.inputs import load_inputs
from model.policy import lockdown_demand, week_policy
from model.reference import simulate_reference
from model.synthetic import synthetic_inputs

END = "2020-05-31"
RATE = 20.0  # awareness hazard per year at stringency 1


def _unc(rate: float) -> Uncertainties:
    # no word of mouth: the regional exposure is then media + the lockdown's calls alone
    return Uncertainties(
        external_rate_urban=0.02,
        open_share_urban=0.3,
        choice_level=-2.5,
        awareness_wom=0.0,
        lockdown_awareness=rate,
    )


def test_policy_carries_the_hazard_of_the_week():
    inputs = load_inputs()
    n = n_weeks_until(dt.date(2020, 12, 31))
    unc, covid = _unc(RATE), Levers(covid=True)
    demand = lockdown_demand(inputs, covid, unc, n)
    weeks = range(n)
    got = [
        week_policy(k, covid, unc, inputs.events, inputs.constants, 6.7e7, demand) for k in weeks
    ]
    assert [p.lockdown_awareness for p in got] == pytest.approx(RATE * demand.stringency)
    assert max(p.lockdown_awareness for p in got) > 0.8 * RATE  # the first lockdown
    plain = lockdown_demand(inputs, Levers(), unc, n)
    none = [
        week_policy(k, Levers(), unc, inputs.events, inputs.constants, 6.7e7, plain) for k in weeks
    ]
    assert all(p.lockdown_awareness == 0.0 for p in none)  # without the pandemic


def _exposure(frame) -> np.ndarray:
    return -np.log1p(-frame["weekly"]["aware_share"].to_numpy())


@pytest.mark.parametrize("engine", ["vectorised", "reference"])
def test_exposure_rises_by_the_hazard_times_the_index(engine):
    inputs = synthetic_inputs(doctors=(12, 4, 2, 2), persons=1_500, region_code="11")
    covid = Levers(covid=True)

    def run(rate):
        if engine == "vectorised":
            return simulate(_unc(rate), covid, seed=3, scale=1, inputs=inputs, end=END, detail=True)
        return simulate_reference(inputs, _unc(rate), covid, seed=3, end=END)

    off, on = run(0.0), run(RATE)
    s = lockdown_demand(inputs, covid, _unc(RATE), len(off["weekly"])).stringency
    expected = np.cumsum(RATE * s / WEEKS_PER_YEAR)
    assert _exposure(on) - _exposure(off) == pytest.approx(expected, abs=1e-9)
    assert expected[-1] > 0.2  # the first lockdown adds a fifth of a year's hazard at least


def test_more_patients_in_the_first_lockdown_and_nothing_changes_before():
    covid = Levers(covid=True)
    runs = {
        rate: simulate(Uncertainties(lockdown_awareness=rate), covid, seed=2, scale=300, end=END)
        for rate in (0.0, RATE)
    }
    off, on = (runs[r].set_index("week_start") for r in (0.0, RATE))
    before = off["stringency"].cumsum() == 0
    assert before.sum() >= 70  # to the first restrictions (February 2020)
    assert off[before].equals(on[before])  # while the index is 0: the same draws
    spring = (off.index >= "2020-03-16") & (off.index < "2020-05-11")
    assert on.loc[spring, "new_patients"].sum() > 1.1 * off.loc[spring, "new_patients"].sum()
    assert on.loc[spring, "acts"].sum() > off.loc[spring, "acts"].sum()
