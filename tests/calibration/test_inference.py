"""ABC-SMC (calibration.inference): the same posterior for the same seed whether run in one go,
stopped after a generation and resumed, or evaluated in a local process pool or on Dask; the
distance is the calibration loss; the priors and generation 0 are what the docstring says.

Small on purpose: two parameters, the two figures known by 31 January 2019 (runs of 20 weeks),
a coarse population (2,000 persons per patient agent), one replicate seed, 8 particles.
"""

from __future__ import annotations

import numpy as np
import pytest

from calibration.inference import (
    AbcSettings,
    LossDistance,
    Prior,
    StageProblem,
    _stop_reason,
    diagnostics,
    run_stage,
    simulate,
    slot_seeds,
)
from calibration.objective import Objective, SearchSpace, training_seeds
from calibration.targets import load_targets, training_targets
from infra.execution import LocalExecutor, SerialExecutor
from model import Uncertainties

NAMES = ["choice_level", "open_share_urban"]
SETTINGS = AbcSettings(population=8, generations=2, seed=3, method="pyabc")


def quiet(*args, **kwargs):
    pass


def tiny_problem(max_evaluations: int = 400) -> StageProblem:
    targets = training_targets(load_targets(), "2019-01-31")
    space = SearchSpace.from_specs(NAMES)
    base = {k: v for k, v in Uncertainties().to_dict().items() if k not in NAMES}
    base["external_rate_urban"] = 0.01  # p_external 0.05 at the point's urban openness of 0.2
    objective = Objective(space, tuple(targets), tuple(training_seeds(1)), 2000, base)
    center = space.coords({"choice_level": -3.1, "open_share_urban": 0.2})
    return StageProblem("A", objective, center, max_evaluations)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run in this process."""
    out = tmp_path_factory.mktemp("abc-ref")
    return run_stage(tiny_problem(), SETTINGS, out, progress=False, log=quiet)


def same(a, b) -> None:
    assert a.posterior.digest() == b.posterior.digest()
    np.testing.assert_array_equal(a.posterior.x, b.posterior.x)
    np.testing.assert_array_equal(a.posterior.weights, b.posterior.weights)
    assert [r["epsilon"] for r in a.trace] == [r["epsilon"] for r in b.trace]
    assert a.evaluations == b.evaluations


def test_reference_run_is_a_weighted_abc_sample(reference):
    post = reference.posterior
    assert len(reference.trace) == 3  # generation 0 and two more
    assert reference.stop_reason.startswith("generations")
    assert post.x.shape == (8, 2) and np.isclose(post.weights.sum(), 1.0)
    eps = [r["epsilon"] for r in reference.trace]
    assert eps == sorted(eps, reverse=True)
    assert np.all(post.loss <= eps[-1])  # every particle within the last tolerance
    assert np.all(np.diff(post.loss) >= 0)  # best first
    frame = post.frame()
    assert list(frame.columns) == [*Uncertainties().to_dict(), "weight", "loss"]
    assert frame.loc[0, "open_share_urban"] == pytest.approx(10 ** post.x[0, 1])
    assert {"stop_reason", "final_ess", "stable", "epsilon_ratio_last"} <= set(
        reference.diagnostics
    )


def test_stopped_after_a_generation_and_resumed_gives_the_same_posterior(reference, tmp_path):
    part = run_stage(tiny_problem(), SETTINGS, tmp_path, stop_after=2, progress=False, log=quiet)
    assert not part.finished and len(part.trace) == 2
    # a fresh process would do exactly this: load the history and go on
    resumed = run_stage(tiny_problem(), SETTINGS, tmp_path, resume=True, progress=False, log=quiet)
    same(reference, resumed)


def test_a_process_pool_gives_the_same_posterior(reference, tmp_path):
    with LocalExecutor(2) as ex:
        pooled = run_stage(
            tiny_problem(), SETTINGS, tmp_path, executor=ex, progress=False, log=quiet
        )
    same(reference, pooled)


def test_dask_gives_the_same_posterior(reference, tmp_path):
    pytest.importorskip("distributed")
    from infra.execution import make_executor

    with make_executor("dask", dask_workers=2) as ex:
        on_dask = run_stage(
            tiny_problem(), SETTINGS, tmp_path, executor=ex, progress=False, log=quiet
        )
    same(reference, on_dask)


def test_another_seed_gives_another_posterior(reference, tmp_path):
    other = run_stage(
        tiny_problem(),
        AbcSettings(population=8, generations=2, seed=4, method="pyabc"),
        tmp_path,
        progress=False,
        log=quiet,
    )
    assert other.posterior.digest() != reference.posterior.digest()


def test_resume_refuses_other_settings(reference, tmp_path):
    run_stage(tiny_problem(), SETTINGS, tmp_path, stop_after=1, progress=False, log=quiet)
    with pytest.raises(ValueError, match="other settings"):
        run_stage(
            tiny_problem(),
            AbcSettings(population=8, generations=2, seed=99, method="pyabc"),
            tmp_path,
            resume=True,
            progress=False,
            log=quiet,
        )


def test_the_budget_stops_a_stage_before_a_generation_it_cannot_afford(reference, tmp_path):
    used = sum(r["evaluations"] for r in reference.trace[:2])
    result = run_stage(tiny_problem(used + 1), SETTINGS, tmp_path, progress=False, log=quiet)
    assert result.stop_reason.startswith("evaluation budget")
    assert result.evaluations == used and len(result.trace) == 2
    assert not result.diagnostics["posterior_is_proposal"]


def test_a_budget_too_small_for_generation1_leaves_a_proposal_flagged(tmp_path):
    result = run_stage(tiny_problem(20), SETTINGS, tmp_path, progress=False, log=quiet)
    assert result.stop_reason.startswith("generation 1 abandoned")
    assert result.evaluations <= 20
    assert result.diagnostics["posterior_is_proposal"]


def test_the_distance_is_the_objective():
    problem = tiny_problem()
    x = problem.center
    assert LossDistance(problem.targets)(simulate(problem.objective, x)) == problem.objective(x)


def test_slot_seeds_depend_on_seed_stage_and_generation_only():
    a = slot_seeds(0, "A", 1, 5)
    assert a == slot_seeds(0, "A", 1, 5)
    assert a[:3] == slot_seeds(0, "A", 1, 3)[:3]
    assert a != slot_seeds(0, "B", 1, 5) and a != slot_seeds(0, "A", 2, 5)
    assert a != slot_seeds(1, "A", 1, 5)


def test_uniform_prior_and_kde_prior():
    low, high = np.array([0.0, -1.0]), np.array([1.0, 1.0])
    flat = Prior(["a", "b"], low, high)
    assert flat.pdf({"a": 0.5, "b": 0.0}) == pytest.approx(0.5)
    assert flat.pdf({"a": 1.5, "b": 0.0}) == 0.0
    np.random.seed(1)
    draws = [flat.rvs() for _ in range(200)]
    assert all(0 <= d["a"] <= 1 and -1 <= d["b"] <= 1 for d in draws)
    np.random.seed(1)
    assert [flat.rvs() for _ in range(3)] == draws[:3]  # numpy's global generator, seeded

    # a KDE of an earlier posterior concentrated at a = 0.2 for "a"; "b" stays uniform
    rng = np.random.default_rng(0)
    particles = rng.normal(0.2, 0.02, size=(100, 1))
    kde = Prior(["a", "b"], low, high, ["a"], particles, np.ones(100))
    near, far = kde.pdf({"a": 0.2, "b": 0.3}), kde.pdf({"a": 0.8, "b": 0.3})
    assert near > 100 * far
    assert kde.pdf({"a": 0.2, "b": 0.3}) == pytest.approx(kde.pdf({"a": 0.2, "b": -0.9}))
    sample = kde.sample_kde(np.random.default_rng(5), 500)
    assert abs(sample.mean() - 0.2) < 0.01 and np.all((sample >= 0) & (sample <= 1))
    # the density integrates to about 1 over the box (the KDE is well inside it)
    grid = np.linspace(0, 1, 2001)
    dens = np.exp(kde.kde_logpdf(grid[:, None]))
    assert np.trapezoid(dens, grid) == pytest.approx(1.0, rel=1e-3)


def test_generation0_is_parents_with_equal_weights(tmp_path):
    """Importance weights prior / proposal at generation 0 collapse to one particle in many
    dimensions; generation 0 is therefore parents only, with equal weights."""
    part = run_stage(tiny_problem(), SETTINGS, tmp_path, stop_after=1, progress=False, log=quiet)
    assert len(part.trace) == 1
    np.testing.assert_array_equal(part.posterior.weights, np.full(8, 1 / 8))
    assert part.trace[0]["ess"] == pytest.approx(8)


def test_generation1_always_runs_and_later_ones_respect_the_budget():
    row = {"epsilon": 1.0, "acceptance_rate": 0.1, "evaluations": 800}
    settings = AbcSettings(population=200, method="pyabc")
    assert _stop_reason([{**row, "generation": 0}], settings, 800) is None
    reason = _stop_reason([{**row, "generation": 0}, {**row, "generation": 1}], settings, 1600)
    assert reason.startswith("evaluation budget")
    assert diagnostics([{**row, "generation": 0, "ess": 200}], "x")["posterior_is_proposal"]


def test_serial_executor_is_the_default(reference, tmp_path):
    again = run_stage(
        tiny_problem(), SETTINGS, tmp_path, executor=SerialExecutor(), progress=False, log=quiet
    )
    same(reference, again)
