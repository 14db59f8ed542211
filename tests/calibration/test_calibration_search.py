"""Checkpointed differential evolution: a run stopped midway and resumed ends as an uninterrupted
one; the Bass baseline recovers its own curve."""

from __future__ import annotations

import json

import numpy as np
import pytest

from calibration import bass
from calibration.objective import Objective, SearchSpace, training_seeds
from calibration.search import SearchSettings, differential_evolution
from calibration.targets import load_targets, training_targets
from model import Uncertainties


def bumpy(x) -> float:
    """A cheap multimodal function (module level: picklable)."""
    x = np.asarray(x)
    return float(np.sum((x - 0.3) ** 2) + 0.05 * np.sum(np.sin(25 * x) ** 2))


@pytest.mark.parametrize("stop", [1, 4, 9])
def test_resume_gives_the_uninterrupted_result(tmp_path, stop):
    settings = SearchSettings(budget=200, popsize=5, seed=7, refine=24, tol=0.0)
    bounds = [(-1.0, 1.0)] * 3
    full = differential_evolution(
        bumpy, bounds, settings, checkpoint=tmp_path / "a.json", progress=False
    )
    part = differential_evolution(
        bumpy, bounds, settings, checkpoint=tmp_path / "b.json", stop_after=stop, progress=False
    )
    assert not part.finished
    resumed = differential_evolution(
        bumpy, bounds, settings, checkpoint=tmp_path / "b.json", resume=True, progress=False
    )
    np.testing.assert_array_equal(full.x, resumed.x)
    assert full.fun == resumed.fun
    np.testing.assert_array_equal(full.evaluated_f, resumed.evaluated_f)
    assert full.trace == resumed.trace
    assert full.nfev == 13 * 15 + 24  # 13 full generations of 15 fit in 200, then refinement


def test_resume_refuses_other_settings(tmp_path):
    bounds = [(-1.0, 1.0)] * 2
    differential_evolution(
        bumpy,
        bounds,
        SearchSettings(budget=40, popsize=5, seed=1),
        checkpoint=tmp_path / "c.json",
        stop_after=1,
        progress=False,
    )
    with pytest.raises(ValueError, match="other settings"):
        differential_evolution(
            bumpy,
            bounds,
            SearchSettings(budget=40, popsize=5, seed=2),
            checkpoint=tmp_path / "c.json",
            resume=True,
            progress=False,
        )


def test_real_objective_resumes_identically(tmp_path):
    """The model objective itself, tiny budget: kill after one generation, resume, compare."""
    targets = training_targets(load_targets(), "2019-03-17")
    space = SearchSpace.from_specs(["choice_level", "open_share_urban"])
    base = {k: v for k, v in Uncertainties().to_dict().items() if k not in space.names}
    objective = Objective(space, tuple(targets), tuple(training_seeds(1)), 2000, base)
    settings = SearchSettings(budget=12, popsize=2, seed=3)
    full = differential_evolution(
        objective, space.bounds, settings, checkpoint=tmp_path / "a.json", progress=False
    )
    differential_evolution(
        objective,
        space.bounds,
        settings,
        checkpoint=tmp_path / "b.json",
        stop_after=1,
        progress=False,
    )
    state = json.loads((tmp_path / "b.json").read_text())
    # scipy's population has at least 5 members: 5 initial + 5 trials
    assert state["generation"] == 1 and state["nfev"] == 10
    resumed = differential_evolution(
        objective,
        space.bounds,
        settings,
        checkpoint=tmp_path / "b.json",
        resume=True,
        progress=False,
    )
    assert full.fun == resumed.fun
    np.testing.assert_array_equal(full.x, resumed.x)
    np.testing.assert_array_equal(full.evaluated_f, resumed.evaluated_f)


def test_bass_baseline_recovers_its_own_curve():
    targets = training_targets(load_targets())
    truth = bass.BassFit({"p": 0.1, "q": 3.0, "M": 2500.0, "a": 1.5}, 0.0)
    synthetic = bass.predict(truth, targets)
    from dataclasses import replace

    fake = [
        replace(t, value=float(v))
        for t, v in zip(targets, synthetic, strict=True)
        if np.isfinite(v)
    ]
    fitted = bass.fit(fake, seed=0)
    assert fitted.loss < 1e-4
    for k, v in truth.params.items():
        assert fitted.params[k] == pytest.approx(v, rel=0.05)
