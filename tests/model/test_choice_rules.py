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


def test_each_age_parameter_is_what_its_name_says():
    unc = Uncertainties(choice_logit=-3.0, choice_age=-0.4, choice_child_gap=0.7, choice_desert=0)
    b = _logits(unc)
    assert b[2] == pytest.approx(-3.0)  # the level is the 40-59 band's
    assert np.diff(b[1:]) == pytest.approx([-0.4] * 3)  # the slope runs from 20-39 up
    assert b[0] - b[4] == pytest.approx(0.7)  # the gap between the end bands


def test_young_adults_sit_above_the_line_by_choice_young():
    """choice_young moves the 20-39 band alone; at its default 0 the line is unbroken."""
    line = Uncertainties(choice_logit=-3.0, choice_age=-0.4, choice_child_gap=0.7, choice_desert=0)
    assert Uncertainties().choice_young == 0.0
    young = _logits(replace(line, choice_young=0.8)) - _logits(line)
    assert young == pytest.approx([0.0, 0.8, 0.0, 0.0, 0.0], abs=1e-12)


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
    )
    assert _logits(unc) == pytest.approx(old, abs=1e-12)


def test_the_planning_defaults_are_the_old_ones_in_the_new_coordinates():
    d = Uncertainties()
    assert (d.choice_logit, d.choice_age, d.choice_child_gap) == pytest.approx((-2.6, -0.3, 1.2))
    old = -2.0 - 0.3 * BANDS  # intercept -2 at 0-19, slope -0.3, no 0-19 offset
    assert _logits(replace(d, choice_desert=0)) == pytest.approx(old, abs=1e-12)
