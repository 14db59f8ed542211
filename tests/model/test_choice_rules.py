"""The patient's choice log-odds: the centred age parameterisation says what each parameter is,
and is an exact change of coordinates from the intercept-at-0-19 form it replaced."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from model import Uncertainties
from model.rules import REFERENCE_COPAY, choice_logit

BANDS = np.arange(5)  # 0-19, 20-39, 40-59, 60-74, 75+


def _logits(unc: Uncertainties) -> np.ndarray:
    return choice_logit(unc, BANDS, np.zeros(5), REFERENCE_COPAY, 0.0)


def _ages(young_gap: float) -> Uncertainties:
    """Level -3 at 40-59, slope -0.4 from there up, 0-19 0.7 above 75+, no desert term."""
    return Uncertainties(
        choice_logit=-3.0,
        choice_age=-0.4,
        choice_child_gap=0.7,
        choice_young_gap=young_gap,
        choice_desert=0,
    )


def test_each_age_parameter_is_what_its_name_says():
    b = _logits(_ages(0.9))
    assert b[2] == pytest.approx(-3.0)  # the level is the 40-59 band's
    assert np.diff(b[2:]) == pytest.approx([-0.4] * 2)  # the slope runs from 40-59 up
    assert b[1] - b[2] == pytest.approx(0.9)  # 20-39 above 40-59
    assert b[0] - b[4] == pytest.approx(0.7)  # the gap between the end bands


def test_young_adults_sit_choice_young_gap_above_the_middle_band():
    """choice_young_gap is the 20-39 band's level above 40-59 and moves that band alone; at
    -choice_age the line from 40-59 up runs on through 20-39 (the planning default)."""
    line = _ages(0.4)
    b = _logits(line)
    assert np.diff(b[1:]) == pytest.approx([-0.4] * 3)
    young = _logits(replace(line, choice_young_gap=1.2))
    assert young[1] - young[2] == pytest.approx(1.2)
    assert young - b == pytest.approx([0.0, 0.8, 0.0, 0.0, 0.0], abs=1e-12)
    d = Uncertainties()
    assert d.choice_young_gap == pytest.approx(-d.choice_age)


@pytest.mark.parametrize(("age", "offset"), [(-0.235, 0.79), (0.6, -1.5), (-1.9, 3.7)])
def test_the_young_gap_is_an_exact_change_of_coordinates(age, offset):
    """The replaced form put the 20-39 band ``choice_young`` above the line from 20-39 up:
    choice_young_gap = choice_young - choice_age gives the same log-odds, bit for bit."""
    base = Uncertainties(choice_logit=-3.3, choice_age=age, choice_child_gap=-0.5)
    new = _logits(replace(base, choice_young_gap=offset - age))
    old_term = age * (BANDS - 2.0) + offset * (BANDS == 1)
    old_term[0] = 2.0 * age - 0.5
    assert np.array_equal(new, -3.3 + old_term)  # no desert, the reference co-payment


@pytest.mark.parametrize(
    ("old_logit", "old_age", "old_child"), [(-2.0, -0.3, 0.0), (-4.1, 0.5, -2.2)]
)
def test_the_change_of_coordinates_is_exact(old_logit, old_age, old_child):
    """The replaced form: old_logit + old_age * band + old_child * (band == 0)."""
    old = old_logit + old_age * BANDS + old_child * (BANDS == 0)
    unc = replace(
        Uncertainties(choice_desert=0),
        choice_logit=old_logit + 2 * old_age,
        choice_age=old_age,
        choice_child_gap=old_child - 4 * old_age,
        choice_young_gap=-old_age,  # that form had no 20-39 offset
    )
    assert _logits(unc) == pytest.approx(old, abs=1e-12)


def test_the_planning_defaults_are_the_old_ones_in_the_new_coordinates():
    d = Uncertainties()
    assert (d.choice_logit, d.choice_age, d.choice_child_gap) == pytest.approx((-2.6, -0.3, 1.2))
    old = -2.0 - 0.3 * BANDS  # intercept -2 at 0-19, slope -0.3, no 0-19 offset
    assert _logits(replace(d, choice_desert=0)) == pytest.approx(old, abs=1e-12)
