"""Morris screening and the Sobol design on analytic functions (no model runs)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from experiments.sensitivity import DELTA, morris_design, morris_indices, sobol_design


def test_morris_ranks_a_linear_function_exactly():
    rng = np.random.default_rng(1)
    design = morris_design(3, 6, rng)
    assert design.shape == (6, 4, 3)
    # each step moves exactly one factor by DELTA, every factor once per trajectory
    steps = np.diff(design, axis=1)
    assert np.allclose(np.sort(np.abs(steps), axis=2)[..., :-1], 0)
    assert np.allclose(np.abs(steps).max(axis=2), DELTA)
    assert design.min() >= 0 and design.max() <= 1 + 1e-12
    coef = np.array([3.0, 0.0, -1.0])
    y = design @ coef
    table = morris_indices(design, y, ["a", "b", "c"], seed=0).set_index("factor")
    assert np.allclose(table.loc[["a", "b", "c"], "mu_star"], np.abs(coef))
    assert np.allclose(table.loc[["a", "b", "c"], "mu"], coef)
    assert list(table.index) == ["a", "c", "b"]


def test_sobol_design_matches_scipy_on_an_additive_function():
    a, b, ab = sobol_design(2, 256, seed=3)
    f = lambda x: 4 * x[0] + x[1]  # noqa: E731 - variance shares 16/17 and 1/17
    res = stats.sobol_indices(
        func={"f_A": f(a)[None], "f_B": f(b)[None], "f_AB": np.stack([f(m) for m in ab])[:, None]},
        n=256,
    )
    first = pd.Series(np.ravel(res.first_order))
    assert abs(first[0] - 16 / 17) < 0.05 and abs(first[1] - 1 / 17) < 0.05
