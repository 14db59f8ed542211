"""Identifiability (width ratio, contraction, flagged pairs), predictive intervals and coverage,
and the stage table."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from calibration import identifiability, predictive, stages
from calibration.inference import Posterior
from calibration.objective import SearchSpace
from calibration.targets import Target


def fake_posterior(n: int = 4000, seed: int = 0) -> Posterior:
    """choice_level pinned near -3 (sd 0.2 of a range of 14), open_share_urban (log10) spread over
    its whole prior range, choice_age strongly tied to choice_level."""
    rng = np.random.default_rng(seed)
    space = SearchSpace.from_specs(["choice_level", "open_share_urban", "choice_age"])
    logit = rng.normal(-3.0, 0.2, n)
    share = rng.uniform(space.low[1], space.high[1], n)
    age = np.clip(-0.5 + 0.5 * (logit + 3.0) + rng.normal(0, 0.02, n), -2, 1)
    x = np.column_stack([logit, share, age])
    loss = rng.random(n)
    order = np.argsort(loss)
    return Posterior(space, {}, x[order], np.full(n, 1.0 / n), loss[order], np.zeros((n, 1)))


def test_identifiability_table_and_pairs():
    post = fake_posterior()
    tab = identifiability.table(post).set_index("parameter")
    logit = tab.loc["choice_level"]
    assert logit.q05 == pytest.approx(-3 - 1.645 * 0.2, abs=0.05)
    assert logit.q95 == pytest.approx(-3 + 1.645 * 0.2, abs=0.05)
    assert logit.width_ratio == pytest.approx(2 * 1.645 * 0.2 / (0.9 * 14), rel=0.1)
    assert logit.verdict == "identified" and logit.contraction > 0.99
    share = tab.loc["open_share_urban"]
    assert share.scale == "log10" and share.prior_low == pytest.approx(0.001)
    assert share.width_ratio == pytest.approx(1.0, abs=0.05)
    assert share.verdict == "not identified" and abs(share.contraction) < 0.1
    corr = identifiability.correlations(post)
    pairs = identifiability.strong_pairs(corr)
    assert [(a, b) for a, b, _ in pairs] == [("choice_level", "choice_age")]
    assert pairs[0][2] > 0.9
    text = identifiability.markdown(identifiability.table(post), corr)
    assert "choice_level–choice_age" in text and "| open_share_urban | log10 |" in text
    assert identifiability.verdicts(identifiability.table(post))["not_identified"] == [
        "open_share_urban"
    ]


def test_weighted_quantile_matches_repetition():
    rng = np.random.default_rng(2)
    v = rng.normal(size=500)
    w = rng.integers(1, 4, size=500).astype(float)
    rep = np.repeat(v, w.astype(int))
    for q in (0.05, 0.5, 0.95):
        assert identifiability.weighted_quantile(v, w, q) == pytest.approx(
            np.quantile(rep, q), abs=0.05
        )


def target(tid: str, value: float, bound: str = "point", kind: str = "weekly_count") -> Target:
    d = dt.date(2019, 1, 1)
    return Target(tid, kind, d, d, "", value, bound, "train", "", "")


def test_predictive_intervals_and_coverage():
    targets = [target("a", 10.0), target("b", 30.0), target("c", 25.0, "lower")]
    sims = np.column_stack([np.arange(1, 21), np.arange(1, 21), np.arange(1, 21)]).astype(float)
    sims = np.vstack([sims, np.full(3, np.nan)])  # a stopped run is left out
    out = predictive.intervals(targets, sims)
    assert out.covered.tolist() == [True, False, False]
    assert out.predictive_q05[0] == pytest.approx(np.quantile(np.arange(1, 21), 0.05))
    out2 = predictive.intervals([target("c", 15.0, "lower")], sims[:, :1])
    assert out2.covered.tolist() == [True]  # the interval reaches the lower bound
    table = pd.DataFrame(
        {
            "target": ["a", "b", "c"],
            "window": ["2018-2019", "2018-2019", "2020"],
            "fitted": [True, True, False],
            "covered": out.covered,
        }
    )
    cov = predictive.coverage(table)
    assert cov["fitted"]["share"] == 0.5 and cov["fitted"]["missed"] == ["b"]
    assert cov["not_fitted"]["figures"] == 1 and cov["not_fitted_by_window"]["2020"]["share"] == 0


def test_draws_follow_the_weights_and_are_deterministic():
    w = np.array([0.7, 0.2, 0.1, 0.0])
    idx = predictive.draw(w, 100, seed=1)
    assert np.array_equal(idx, predictive.draw(w, 100, seed=1))
    assert np.bincount(idx, minlength=4).tolist() == [70, 20, 10, 0]  # systematic resampling


def test_stage_table():
    stages.check()
    assert [s.name for s in stages.select(None)] == ["A", "B"]
    assert [s.name for s in stages.select(["A"])] == ["A"]
    with pytest.raises(ValueError, match="skips an earlier stage"):
        stages.select(["B"])
    with pytest.raises(ValueError, match="unknown"):
        stages.select(["C"])
    a, b = stages.STAGES
    assert not set(a.params) & set(b.params)
    assert set(a.windows) < set(b.windows)
    assert stages.unstaged() == []  # every calibrated uncertainty is fitted by some stage
    changed = stages.with_budgets(stages.STAGES, de_budget=5, abc_evaluations=9)
    assert [(s.de_budget, s.de_refine, s.abc_evaluations) for s in changed] == [
        (5, a.de_refine, 9),
        (5, b.de_refine, 9),
    ]
    per_stage = stages.with_budgets(stages.STAGES, abc_evaluations=(6000, 3000))
    assert [s.abc_evaluations for s in per_stage] == [6000, 3000]
    assert [
        s.abc_evaluations for s in stages.with_budgets(stages.STAGES, abc_evaluations=(7,))
    ] == [
        7,
        7,
    ]
    with pytest.raises(ValueError, match="abc_evaluations: 3 values for 2 stages"):
        stages.with_budgets(stages.STAGES, abc_evaluations=(1, 2, 3))
    tolerances = stages.with_budgets(stages.STAGES, tolerance=(4.0, 12.5))
    assert [s.tolerance for s in tolerances] == [4.0, 12.5]
    assert [s.tolerance for s in stages.with_budgets(stages.STAGES, tolerance=3.0)] == [3.0, 3.0]
    mixed = stages.with_budgets(stages.STAGES, tolerance=("auto", 12.5))
    assert [s.tolerance for s in mixed] == ["auto", 12.5]
    with pytest.raises(ValueError, match="tolerance: 3 values for 2 stages"):
        stages.with_budgets(stages.STAGES, tolerance=(1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="already fitted"):
        stages.check((a, stages.Stage("C", "", ("2020",), (a.params[0],))))


def test_a_records_posterior_params_are_its_stage_and_the_earlier_ones():
    a, b = ({"params": [f"{s}{i}" for i in range(2)]} for s in "ab")
    record = {"stages": {"A": a, "B": b}, "posterior": {"stage": "A"}}
    assert stages.posterior_params(record) == ["a0", "a1"]
    record["posterior"]["stage"] = "B"
    assert stages.posterior_params(record) == ["a0", "a1", "b0", "b1"]
