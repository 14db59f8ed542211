"""Openness and the external rate, written for an urban reference doctor (6 Dec 2026).

The model before wrote openness for a rural reference doctor (``open_share``) with an urban shift,
and the external rate per open doctor (``p_external``); both pairs were confounded in the
posterior (docs/calibration.md). The new form must be the same model, value for value.
"""

from __future__ import annotations

import numpy as np
import pytest

from model import Uncertainties, rules


def _logistic(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_an_urban_reference_doctor_is_open_with_open_share_urban_and_a_rural_one_less():
    unc = Uncertainties(open_share_urban=0.3, open_urban=2.0)
    # GP, under 60, solo: urban, then rural
    effects = rules.openness_effects(unc, [0, 0], [1, 0], [0, 0], [0, 0])
    p = rules.open_probability(unc.open_share_urban, effects)
    assert p[0] == pytest.approx(0.3, abs=1e-15)
    assert np.log(p[1] / (1 - p[1])) == pytest.approx(np.log(0.3 / 0.7) - 2.0, abs=1e-12)


def test_the_new_form_gives_the_old_openness_and_hazard():
    """open_share_urban = logistic(logit(open_share) + open_urban) and external_rate_urban =
    p_external x open_share_urban give every doctor the openness and external rate of the old
    form (rural reference, urban shift, rate per open doctor)."""
    rng = np.random.default_rng(6)
    for _ in range(50):
        share, shift, p = 10 ** rng.uniform(-3, -0.1), rng.uniform(-3, 5), rng.uniform(0.01, 5)
        urban_share = float(_logistic(np.log(share / (1 - share)) + shift))
        if urban_share < 0.001:  # the new range's floor (the old box reached lower)
            continue
        unc = Uncertainties(
            open_share_urban=urban_share,
            open_urban=shift,
            external_rate_urban=p * urban_share,
            open_age60=rng.uniform(-5, 3),
            open_specialist=rng.uniform(-5, 5),
        )
        n = 200
        age60, urban, group = (rng.random(n) < 0.5 for _ in range(3))
        kind = rng.integers(0, 4, n)
        new = rules.open_probability(
            unc.open_share_urban, rules.openness_effects(unc, age60, urban, group, kind)
        )
        # the old form's effects: u * urban, i.e. the new u * (urban - 1) plus u
        old_effects = rules.openness_effects(unc, age60, urban, group, kind) + shift
        old = rules.open_probability(share, old_effects)
        np.testing.assert_allclose(new, old, rtol=1e-9, atol=1e-15)
        assert unc.p_external == pytest.approx(p, rel=1e-12, abs=1e-15)


def test_the_planning_defaults_are_the_old_ones_transformed():
    d = Uncertainties()
    assert d.p_external == pytest.approx(0.05, rel=1e-14)
    rural = rules.open_probability(d.open_share_urban, rules.openness_effects(d, 0, 0, 0, 0))
    assert float(rural) == pytest.approx(0.01, rel=1e-12)


def test_p_external_is_derived_not_set():
    with pytest.raises(TypeError):
        Uncertainties(p_external=0.1)  # a property: set external_rate_urban
    assert "p_external" not in Uncertainties().to_dict()
