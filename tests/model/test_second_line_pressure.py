"""The lockdown's pressure on the second line: specialists and hospital doctors, whose
follow-ups were postponed, take the push to open up and adopt in later than GPs, and may feel
only a share of it."""

from __future__ import annotations

import numpy as np
import pytest

from model import Levers, Uncertainties, rules
from model.calendar import parse_end
from model.model import TeleModel
from model.population import GP, HOSPITAL, SPECIALIST, build_population
from model.synthetic import synthetic_inputs

SECOND_LINE = np.array([False, True, False, True])  # GP, specialist, health centre, hospital


def test_each_line_gets_its_own_value():
    assert rules.by_line(3.0, 0.75, SECOND_LINE).tolist() == [3.0, 0.75, 3.0, 0.75]
    d = Uncertainties()  # the model before: the second line as the first
    assert (d.lockdown_second_line_pressure, d.lockdown_second_line_lag_weeks) == (1.0, 0.0)


def _spring_2020(share: float):
    """A small region through spring 2020; the second line feels ``share`` of the pressure."""
    inputs = synthetic_inputs(doctors=(40, 40, 4, 8), persons=3_000, region_code="11")
    unc = Uncertainties(
        external_rate_urban=0.01,
        open_share_urban=0.2,
        lockdown_open=4.0,
        lockdown_pull=50.0,
        lockdown_second_line_pressure=share,
    )
    m = TeleModel(
        inputs,
        build_population(inputs, 1, 7),
        unc,
        Levers(covid=True),
        7,
        parse_end("2020-05-10"),
    )
    while m.week < m.n_weeks:
        m.step()
    return m


@pytest.fixture(scope="module")
def by_share():
    return {share: _spring_2020(share) for share in (0.0, 1.0)}


def test_without_pressure_on_the_second_line_fewer_specialists_open_and_adopt(by_share):
    kind = by_share[1.0].pop.doctors.kind
    second = np.isin(kind, (SPECIALIST, HOSPITAL))
    none, full = by_share[0.0], by_share[1.0]
    assert none._open[second].sum() < full._open[second].sum()
    assert none.adopted[second].sum() < full.adopted[second].sum()
    # GPs feel the whole pressure either way: who opens and when each adopts are the same
    gp = kind == GP
    assert np.array_equal(none._open[gp], full._open[gp])
    assert np.array_equal(none.adopted_week[gp], full.adopted_week[gp])
    assert full.adopted[gp].sum() > 0
