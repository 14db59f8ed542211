"""The patient's choice log-odds: the age parameterisation (level at the acts' mean age, slope, the
20-39 band against 60-74, the end bands' gap) says what each parameter is, and is an exact change
of coordinates from the forms it replaced (the level at 40-59; before it, an intercept at 0-19)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from model import Uncertainties
from model.params import RETIRED
from model.rules import CHOICE_AGE_WEIGHTS, REFERENCE_COPAY, age_logits, choice_logit

BANDS = np.arange(5)  # 0-19, 20-39, 40-59, 60-74, 75+
W = np.array(CHOICE_AGE_WEIGHTS)


def _logits(unc: Uncertainties) -> np.ndarray:
    return choice_logit(unc, BANDS, np.zeros(5), REFERENCE_COPAY, 0.0)


def _ages(senior_gap: float) -> Uncertainties:
    """Mean level -3, slope -0.4 from 40-59 up, 0-19 0.7 above 75+, no desert term."""
    return Uncertainties(
        choice_level=-3.0,
        choice_age=-0.4,
        choice_child_gap=0.7,
        choice_young_senior_gap=senior_gap,
        choice_desert=0,
    )


def _from_40_59(level: float, age: float, child: float, young: float) -> Uncertainties:
    """The replaced form's values (level at 40-59, 20-39 ``young`` above it) in the new
    coordinates, by the formulas the retired names' error message gives."""
    return Uncertainties(
        choice_level=level + 0.35 * age + 0.05 * child + 0.5 * young,
        choice_age=age,
        choice_child_gap=child,
        choice_young_senior_gap=young - age,
        choice_desert=0,
    )


def test_the_weights_are_shares():
    assert W.sum() == pytest.approx(1.0) and (W > 0).all()


def test_each_age_parameter_is_what_its_name_says():
    b = _logits(_ages(0.9))
    assert W @ b == pytest.approx(-3.0)  # the level is the weighted mean over the bands
    assert np.diff(b[2:]) == pytest.approx([-0.4] * 2)  # the slope runs from 40-59 up
    assert b[1] - b[3] == pytest.approx(0.9)  # 20-39 above 60-74
    assert b[0] - b[4] == pytest.approx(0.7)  # the gap between the end bands
    assert age_logits(_ages(0.9)) == pytest.approx(b)  # no desert, the reference co-payment


def test_the_senior_gap_moves_the_young_band_against_the_others_at_a_fixed_mean():
    """Raising the gap raises 20-39 and lowers the other four bands alike, keeping the mean:
    the level the counts pin does not move with the shape."""
    b, wider = _logits(_ages(0.2)), _logits(_ages(1.0))
    d = wider - b
    assert W @ d == pytest.approx(0.0, abs=1e-12)
    assert d[1] > 0 and d[[0, 2, 3, 4]] == pytest.approx([d[0]] * 4)
    assert d[1] - d[3] == pytest.approx(0.8)


def test_the_level_shifts_every_band_alike():
    b = _logits(_ages(0.5))
    up = _logits(replace(_ages(0.5), choice_level=-2.0))
    assert up - b == pytest.approx([1.0] * 5)


@pytest.mark.parametrize(
    ("level", "age", "child", "young"),
    [(-3.58, 0.05, -0.48, 1.03), (-4.4, -1.9, 2.7, -0.6), (-2.8, 0.98, -4.99, 2.47)],
)
def test_the_change_from_the_level_at_40_59_is_exact(level, age, child, young):
    """The replaced form: 40-59 at ``level``, ``age`` a band from there up, 20-39 ``young``
    above 40-59, 0-19 ``child`` above 75+. The retired names' formulas give the same log-odds."""
    old = level + np.array([2 * age + child, young, 0.0, age, 2 * age])
    assert _logits(_from_40_59(level, age, child, young)) == pytest.approx(old, abs=1e-12)
    assert "0.35 choice_age + 0.05 choice_child_gap + 0.5" in RETIRED["choice_logit"]
    assert "choice_young_senior_gap = choice_young_gap - choice_age" in RETIRED["choice_young_gap"]


@pytest.mark.parametrize(
    ("old_logit", "old_age", "old_child"), [(-2.0, -0.3, 0.0), (-4.1, 0.5, -2.2)]
)
def test_the_change_from_the_intercept_at_0_19_is_exact(old_logit, old_age, old_child):
    """The form before: old_logit + old_age * band + old_child * (band == 0), no 20-39 term."""
    old = old_logit + old_age * BANDS + old_child * (BANDS == 0)
    unc = _from_40_59(old_logit + 2 * old_age, old_age, old_child - 4 * old_age, -old_age)
    assert _logits(unc) == pytest.approx(old, abs=1e-12)


def test_the_planning_defaults_are_the_old_ones_in_the_new_coordinates():
    """-2.6 at 40-59, slope -0.3 on a straight line from 0-19 (the first form's defaults)."""
    d = replace(Uncertainties(), choice_desert=0)
    assert (d.choice_level, d.choice_young_senior_gap) == pytest.approx((-2.495, 0.6))
    old = -2.0 - 0.3 * BANDS  # intercept -2 at 0-19, slope -0.3, no 0-19 offset
    assert _logits(d) == pytest.approx(old, abs=1e-12)
