"""ABC-SMC with equal weights (calibration.replenishment): every generation an equally weighted
sample within its tolerance; the same posterior in one go, stopped and resumed, or over a process
pool; a Metropolis-Hastings kernel that leaves the target invariant.

Small on purpose: the two-parameter problem of test_inference (runs of 20 weeks, 2,000 persons a
patient agent, one seed), 10 particles.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_inference import quiet, tiny_problem

from calibration import replenishment
from calibration.inference import AbcSettings, Prior
from calibration.replenishment import MAX_STEPS, MISS, _steps, reflect, run_stage
from infra.execution import LocalExecutor, SerialExecutor

SETTINGS = AbcSettings(population=10, generations=3, seed=5)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("repl-ref")
    return run_stage(tiny_problem(), SETTINGS, out, progress=False, log=quiet)


def same(a, b) -> None:
    assert a.posterior.digest() == b.posterior.digest()
    np.testing.assert_array_equal(a.posterior.loss, b.posterior.loss)
    assert [r["epsilon"] for r in a.trace] == [r["epsilon"] for r in b.trace]
    assert a.evaluations == b.evaluations


def test_every_generation_is_an_equally_weighted_sample_within_its_tolerance(reference):
    post, trace = reference.posterior, reference.trace
    assert SETTINGS.method == "replenishment"  # the default
    assert [r["generation"] for r in trace] == [0, 1, 2, 3]
    assert reference.stop_reason.startswith("generations")
    np.testing.assert_array_equal(post.weights, np.full(10, 0.1))
    assert post.ess() == pytest.approx(10) and trace[-1]["ess"] == 10
    eps = [r["epsilon"] for r in trace]
    assert eps == sorted(eps, reverse=True)
    assert np.all(post.loss <= eps[-1])
    assert np.all(np.diff(post.loss) >= 0)  # best first
    assert trace[-1]["distinct"] == len(np.unique(post.x, axis=0)) >= 6
    assert trace[0]["evaluations"] == 20  # population / init_alpha draws from the prior
    # the stored distances are the particles' own: recomputing one gives the same loss
    problem = tiny_problem()
    assert problem.objective(post.x[0]) == pytest.approx(post.loss[0])
    assert not reference.diagnostics["posterior_is_proposal"]
    assert reference.diagnostics["distinct"] == trace[-1]["distinct"]


def test_stopped_after_a_generation_and_resumed_gives_the_same_posterior(reference, tmp_path):
    part = run_stage(tiny_problem(), SETTINGS, tmp_path, stop_after=2, progress=False, log=quiet)
    assert not part.finished and len(part.trace) == 2
    # a run stopped on purpose still says how far it got (what its record would keep)
    assert part.diagnostics["stop_reason"] == "stopped on purpose"
    assert part.diagnostics["generations"] == 1 and part.diagnostics["distinct"] >= 1
    resumed = run_stage(tiny_problem(), SETTINGS, tmp_path, resume=True, progress=False, log=quiet)
    same(reference, resumed)


class Killed(Exception):
    pass


class DyingExecutor(SerialExecutor):
    """Runs ``lives`` items, then dies as a killed process would; counts the items it ran."""

    def __init__(self, lives: int | None = None):
        self.lives, self.ran = lives, 0

    def as_completed(self, fn, items):
        for i, item in enumerate(items):
            if self.lives is not None and self.ran >= self.lives:
                raise Killed
            self.ran += 1
            yield i, fn(item)


def test_a_run_killed_inside_a_generation_resumes_the_copies_not_yet_moved(
    reference, tmp_path, monkeypatch
):
    """A held generation of stage B takes hours: the copies already moved are saved as they
    finish, and a resumed run moves only the others, to the same result."""
    monkeypatch.setattr(replenishment, "PARTIAL_EVERY", 0.0)
    run_stage(tiny_problem(), SETTINGS, tmp_path, stop_after=1, progress=False, log=quiet)
    dying = DyingExecutor(lives=4)
    with pytest.raises(Killed):
        run_stage(
            tiny_problem(),
            SETTINGS,
            tmp_path,
            executor=dying,
            resume=True,
            progress=False,
            log=quiet,
        )
    partial = tmp_path / replenishment.PARTIAL_NAME.format(stage="A")
    assert partial.is_file()
    counting = DyingExecutor()
    resumed = run_stage(
        tiny_problem(),
        SETTINGS,
        tmp_path,
        executor=counting,
        resume=True,
        progress=False,
        log=quiet,
    )
    same(reference, resumed)
    # generations 1-3 each move the copies that replace the dropped particles; 4 of
    # generation 1's were read back, not moved again
    copies = 10 - max(2, math.ceil((1 - SETTINGS.alpha) * 10))
    assert counting.ran == 3 * copies - 4
    assert not partial.exists()  # a whole generation written, its partial file goes


def test_a_process_pool_gives_the_same_posterior(reference, tmp_path):
    with LocalExecutor(2) as ex:
        pooled = run_stage(
            tiny_problem(), SETTINGS, tmp_path, executor=ex, progress=False, log=quiet
        )
    same(reference, pooled)


def test_a_run_stopped_by_its_budget_continues_with_a_larger_one(reference, tmp_path):
    """Resumed with more evaluations and generations, a run that stopped on its budget goes on
    to the result of the run given that budget from the start; a smaller budget is refused."""
    small = AbcSettings(population=10, generations=1, seed=5)
    first = run_stage(tiny_problem(60), small, tmp_path, progress=False, log=quiet)
    assert first.finished and len(first.trace) < len(reference.trace)
    with pytest.raises(ValueError, match="may grow"):
        run_stage(tiny_problem(50), small, tmp_path, resume=True, progress=False, log=quiet)
    more = run_stage(tiny_problem(), SETTINGS, tmp_path, resume=True, progress=False, log=quiet)
    same(reference, more)


def test_resume_refuses_another_run(tmp_path):
    run_stage(tiny_problem(), SETTINGS, tmp_path, stop_after=1, progress=False, log=quiet)
    with pytest.raises(ValueError, match="other settings"):
        run_stage(
            tiny_problem(),
            AbcSettings(population=10, generations=3, seed=6),
            tmp_path,
            resume=True,
            progress=False,
            log=quiet,
        )


def test_the_budget_stops_before_a_generation_it_cannot_afford(tmp_path):
    result = run_stage(tiny_problem(25), SETTINGS, tmp_path, progress=False, log=quiet)
    assert result.stop_reason.startswith("evaluation budget")
    assert result.evaluations <= 25


def test_steps_per_copy_follow_the_acceptance_rate():
    assert _steps(1.0) == 1 and _steps(0.0) == MAX_STEPS
    for p in (0.05, 0.2, 0.5, 0.9):
        r = _steps(p)
        assert (1 - p) ** r <= MISS or r == MAX_STEPS
        assert r == 1 or (1 - p) ** (r - 1) > MISS


def test_the_move_leaves_a_known_posterior_invariant():
    """The kernel of _move on a problem with a closed-form ABC posterior: uniform prior on
    [0, 1]^2, distance |x - c|, so the target at tolerance e is uniform on the disc of radius e
    around c (inside the box). Chains started from the target stay distributed as it."""
    from calibration import replenishment as rp

    class Disc:
        def __call__(self, stats):
            return float(stats["q"][0])

    centre = np.array([0.5, 0.5])

    def fake_simulate(objective, y):
        return {"q": np.array([float(np.hypot(*(np.asarray(y) - centre)))]), "stopped": 0.0}

    prior = Prior(["a", "b"], [0.0, 0.0], [1.0, 1.0])
    assert prior.log_density(np.array([0.2, 0.3])) == 0.0
    assert prior.log_density(np.array([1.2, 0.3])) == -math.inf
    rng = np.random.default_rng(0)
    eps, n = 0.3, 4000
    r0 = eps * np.sqrt(rng.random(n))
    a0 = rng.random(n) * 2 * np.pi
    starts = centre + np.column_stack([r0 * np.cos(a0), r0 * np.sin(a0)])
    chol = np.eye(2) * 0.1
    original = rp.simulate
    rp.simulate = fake_simulate
    try:
        ends = np.array(
            [
                rp._move(
                    (
                        None,
                        Disc(),
                        prior,
                        x,
                        0.0,
                        [0.0],
                        eps,
                        chol,
                        5,
                        np.random.SeedSequence([1, i]),
                    )
                )["x"]
                for i, x in enumerate(starts)
            ]
        )
    finally:
        rp.simulate = original
    radius = np.hypot(*(ends - centre).T)
    assert radius.max() <= eps
    # uniform on the disc: P(radius <= eps / sqrt 2) = 1/2, mean of x = the centre
    assert np.mean(radius <= eps / np.sqrt(2)) == pytest.approx(0.5, abs=0.03)
    np.testing.assert_allclose(ends.mean(axis=0), centre, atol=0.01)
    assert np.mean(np.any(ends != starts, axis=1)) > 0.8  # the chains move


def test_folded_steps_stay_in_the_box_and_keep_the_uniform_prior():
    low, high = np.array([0.0, -1.0]), np.array([1.0, 3.0])
    np.testing.assert_allclose(reflect(np.array([1.25, -1.5]), low, high), [0.75, -0.5])
    np.testing.assert_allclose(reflect(np.array([-0.25, 3.5]), low, high), [0.25, 2.5])
    np.testing.assert_allclose(reflect(np.array([2.25, 0.0]), low, high), [0.25, 0.0])
    # a random walk folded so, started uniform, stays uniform (the proposal is symmetric)
    rng = np.random.default_rng(1)
    x = low + rng.random((20000, 2)) * (high - low)
    for _ in range(5):
        x = reflect(x + rng.normal(0, 0.7, x.shape), low, high)
    assert np.all((x >= low) & (x <= high))
    np.testing.assert_allclose(x.mean(axis=0), (low + high) / 2, atol=0.02)
    assert np.mean(x[:, 0] < 0.25) == pytest.approx(0.25, abs=0.01)


def test_the_pyabc_entry_point_refuses_the_other_method(tmp_path):
    from calibration import inference

    with pytest.raises(ValueError, match="method: 'replenishment' is run by"):
        inference.run_stage(tiny_problem(), SETTINGS, tmp_path, progress=False, log=quiet)


def test_a_start_at_the_point_held_at_a_final_tolerance(tmp_path):
    """Generation 0 around the point estimate; once the tolerance reaches the final one it is
    held, every particle moves each generation (population ABC-MCMC at that tolerance), and the
    stage stops after ``hold`` such generations, each particle within the tolerance."""
    settings = AbcSettings(
        population=10, generations=12, seed=5, start="point", tolerance=10.0, hold=2
    )
    result = run_stage(tiny_problem(), settings, tmp_path, progress=False, log=quiet)
    trace = result.trace
    from_prior = run_stage(
        tiny_problem(), SETTINGS, tmp_path / "prior", progress=False, log=quiet
    ).trace
    assert trace[0]["epsilon"] < from_prior[0]["epsilon"]  # the point's neighbourhood fits
    held = [r for r in trace if r["held"]]
    assert len(held) == 2 and trace[-1]["held"] and trace[-2]["held"]
    assert all(r["epsilon"] == 10.0 for r in held)
    assert all(r["epsilon"] > 10.0 for r in trace if not r["held"])
    assert result.stop_reason == "held at the tolerance 10 for 2 generations"
    assert np.all(result.posterior.loss <= 10.0)
    # held: every particle moves (each simulation an MH proposal of one of the 10)
    assert all(r["evaluations"] <= 10 * MAX_STEPS for r in held)
    assert result.diagnostics["held_generations"] == 2
    assert result.diagnostics["start"] == "point"
    with pytest.raises(ValueError, match="start"):
        AbcSettings(start="somewhere")
    with pytest.raises(ValueError, match="tolerance"):
        AbcSettings(tolerance=-1.0)


def test_a_start_at_the_point_can_draw_the_earlier_stages_parameters_from_their_prior(tmp_path):
    """With ``init_inherited="prior"``, generation 0's inherited parameter comes from the earlier
    posterior's KDE (here a tight cloud far from the point), the new one still around the point;
    the default keeps both around the point, and its settings' dict (the fingerprint) has no
    new key, so runs from before the option resume."""
    from calibration.inference import Posterior
    from calibration.objective import SearchSpace

    problem = tiny_problem()
    j = problem.space.names.index("open_share_urban")
    lo, hi = problem.space.low[j], problem.space.high[j]
    far = lo + 0.1 * (hi - lo)  # the point is at log10(0.2), well above
    assert abs(problem.center[j] - far) > 0.2 * (hi - lo)
    cloud = far + np.linspace(-0.01, 0.01, 7) * (hi - lo)
    problem.previous = Posterior(
        space=SearchSpace.from_specs(["open_share_urban"]),
        base={},
        x=cloud[:, None],
        weights=np.full(7, 1 / 7),
        loss=np.zeros(7),
        quantities=np.zeros((7, 0)),
    )
    assert problem.inherited() == ("open_share_urban",)
    point = AbcSettings(population=10, generations=3, seed=5, start="point", init_spread=0.02)
    prior = AbcSettings(**{**point.to_dict(), "init_inherited": "prior"})
    assert "init_inherited" not in point.to_dict() and prior.to_dict()["init_inherited"] == "prior"
    kw = {"stop_after": 1, "progress": False, "log": quiet}
    x_point = run_stage(problem, point, tmp_path / "point", **kw).posterior.x
    x_prior = run_stage(problem, prior, tmp_path / "prior", **kw).posterior.x
    span = hi - lo
    # the prior share (10%) may bring a uniform draw; the rest follow their start
    assert np.median(np.abs(x_prior[:, j] - far)) < 0.05 * span
    assert np.median(np.abs(x_point[:, j] - problem.center[j])) < 0.05 * span
    k = 1 - j  # the new parameter: around the point either way
    span_k = problem.space.high[k] - problem.space.low[k]
    assert np.median(np.abs(x_prior[:, k] - problem.center[k])) < 0.05 * span_k
    with pytest.raises(ValueError, match="init_inherited"):
        AbcSettings(init_inherited="anywhere")


def test_a_start_at_the_point_takes_a_spread_per_parameter(tmp_path):
    """``init_spreads`` sizes generation 0 per parameter: a parameter given a tight share stays
    near the point while the other spreads with ``init_spread``; the settings travel through
    their dict (a saved record) unchanged, are left out of it when empty (old fingerprints
    still resume), and a bad share or a name not in the stage is refused by name."""
    problem = tiny_problem()
    names = list(problem.space.names)
    tight, loose = names
    base = AbcSettings(population=10, generations=3, seed=5, start="point", init_spread=0.2)
    per = AbcSettings(**{**base.to_dict(), "init_spreads": {tight: 0.001}})
    assert "init_spreads" not in base.to_dict()
    assert per.to_dict()["init_spreads"] == [[tight, 0.001]]
    assert AbcSettings(**per.to_dict()) == per
    kw = {"stop_after": 1, "progress": False, "log": quiet}
    x = run_stage(problem, per, tmp_path, **kw).posterior.x
    span = np.asarray(problem.space.high) - np.asarray(problem.space.low)
    gap = np.abs(x - problem.center) / span
    # 10% of generation 0 comes from the uniform prior; the rest follow their sd
    assert np.median(gap[:, 0]) < 0.003 < 0.03 < np.median(gap[:, 1])
    with pytest.raises(ValueError, match=r"init_spreads\['open_share_urban'\]: 0.0"):
        AbcSettings(init_spreads={"open_share_urban": 0.0})
    with pytest.raises(ValueError, match="init_spreads: nowhere not among"):
        run_stage(
            problem,
            AbcSettings(**{**base.to_dict(), "init_spreads": {"nowhere": 0.1}}),
            tmp_path / "bad",
            **kw,
        )


def test_a_gated_distance_scores_the_other_figures_only_inside_its_gate():
    """Inside the gate the distance is the loss of the figures outside it; beyond it, above
    every tolerance (ranked by the gate's loss); failed and runaway runs as the plain loss."""
    from calibration.inference import EXPLODED, FAILED, GATED, GatedDistance, LossDistance
    from calibration.loss import loss

    targets = tuple(tiny_problem().targets)
    assert len(targets) >= 2
    gate_ids = (targets[0].id,)
    q = np.array([t.value for t in targets], dtype=float)
    q[1:] *= 1.3  # the others off by 30%, the gated figure exact
    d = GatedDistance(targets, gate_ids, 0.5)
    rest = loss(list(targets[1:]), q[1:])
    assert rest > 0 and d({"q": q, "stopped": 0.0}) == pytest.approx(rest)
    off = q.copy()
    off[0] = targets[0].value * 3  # the gated figure far off: beyond the gate
    far = d({"q": off, "stopped": 0.0})
    assert far == pytest.approx(GATED + loss([targets[0]], off[:1]))
    assert d({"q": q, "stopped": -1.0}) == FAILED
    assert d({"q": q, "stopped": 0.5}) == LossDistance(targets)({"q": q, "stopped": 0.5})
    assert d({"q": q, "stopped": 0.5}) == pytest.approx(EXPLODED * 1.5)
    assert d.describe() == {"gate": list(gate_ids), "gate_tolerance": 0.5}


def test_generation_0_can_start_the_earlier_parameters_from_a_posteriors_rows(tmp_path):
    """``StageProblem.start_rows``: generation 0 takes the named parameters from the sample's
    rows (exact values, resampled by weight), the others around the point; the prior stays
    uniform (no KDE) and the rows enter the run's fingerprint."""
    from calibration.inference import Posterior
    from calibration.objective import SearchSpace

    problem = tiny_problem()
    j = problem.space.names.index("open_share_urban")
    lo, hi = problem.space.low[j], problem.space.high[j]
    rows = lo + np.array([0.1, 0.12, 0.14]) * (hi - lo)
    problem.start_rows = Posterior(
        space=SearchSpace.from_specs(["open_share_urban"]),
        base={},
        x=rows[:, None],
        weights=np.array([0.5, 0.5, 0.0]),
        loss=np.zeros(3),
        quantities=np.zeros((3, 0)),
    )
    settings = AbcSettings(population=10, generations=3, seed=5, start="point", init_spread=0.02)
    result = run_stage(problem, settings, tmp_path, stop_after=1, progress=False, log=quiet)
    x = result.posterior.x
    assert set(np.round(x[:, j], 12)) <= set(np.round(rows[:2], 12))  # weight 0: never drawn
    k = 1 - j
    span = problem.space.high[k] - problem.space.low[k]
    assert np.median(np.abs(x[:, k] - problem.center[k])) < 0.05 * span
    assert problem.inherited() == ()  # not a prior
    assert "start_rows" in problem.fingerprint(settings)
    assert "start_rows" not in tiny_problem().fingerprint(settings)
    # only that start reads the rows: the others refuse them rather than ignore them
    prior_start = AbcSettings(population=10, generations=3, seed=5, start="prior")
    with pytest.raises(ValueError, match="start_rows: only a start at the point"):
        run_stage(problem, prior_start, tmp_path / "p", progress=False, log=quiet)
    from calibration.inference import run_stage as pyabc_run_stage

    pyabc = AbcSettings(population=10, generations=3, seed=5, method="pyabc")
    with pytest.raises(ValueError, match="start_rows: pyabc's generation 0"):
        pyabc_run_stage(problem, pyabc, tmp_path / "q", progress=False, log=quiet)


def _gated_tiny(tolerance: float):
    from calibration.inference import GatedDistance

    problem = tiny_problem()
    gate = GatedDistance(tuple(problem.targets), (problem.targets[0].id,), tolerance)
    problem.distance = gate
    return problem, gate


def test_a_screened_proposal_has_the_distance_of_its_whole_run():
    """GatedDistance.screen cuts a run two weeks after the gate's last day (here 31 Dec 2018, of
    a run to 31 Jan 2019): beyond the gate its figures are the whole run's bit for bit, so the
    distance is too; inside it, it asks for the whole run."""
    from calibration.inference import GATED, simulate
    from calibration.loss import loss

    problem, _ = _gated_tiny(0.0)
    rng = np.random.default_rng(3)
    low, high = np.asarray(problem.space.low), np.asarray(problem.space.high)
    xs = low + rng.random((6, 2)) * (high - low)
    whole = [simulate(problem.objective, x) for x in xs]
    gate_losses = [loss([problem.targets[0]], w["q"][:1]) for w in whole]
    tolerance = float(np.median(gate_losses))
    problem, gate = _gated_tiny(tolerance)
    screened = 0
    for x, w, g in zip(xs, whole, gate_losses, strict=True):
        s = gate.screen(problem.objective, x)
        if g <= tolerance:
            assert s is None
            continue
        screened += 1
        assert s is not None and np.isnan(s["q"][1])
        assert s["q"][0] == w["q"][0]  # bit for bit
        assert gate(s) == gate(w) >= GATED
    assert 0 < screened < len(xs)
    # an objective reading other figures than the distance: no screen
    other = _gated_tiny(tolerance)[1]
    object.__setattr__(other, "targets", tuple(reversed(problem.targets)))
    assert other.screen(problem.objective, xs[0]) is None


def test_screening_leaves_a_gated_run_unchanged(tmp_path, monkeypatch):
    """The same posterior, trace and evaluations with and without the screen; the trace counts
    the screened proposals."""
    from calibration.inference import GatedDistance, simulate
    from calibration.loss import loss

    problem, _ = _gated_tiny(0.0)
    center_loss = loss([problem.targets[0]], simulate(problem.objective, problem.center)["q"][:1])
    settings = AbcSettings(population=10, generations=2, seed=5, start="point", init_spread=0.3)
    kw = {"progress": False, "log": quiet}
    problem, _ = _gated_tiny(max(2.0 * center_loss, 0.05))
    fast = run_stage(problem, settings, tmp_path / "fast", **kw)
    assert sum(r["screened"] for r in fast.trace) > 0
    monkeypatch.setattr(GatedDistance, "screen", lambda self, objective, x: None)
    problem, _ = _gated_tiny(max(2.0 * center_loss, 0.05))
    slow = run_stage(problem, settings, tmp_path / "slow", **kw)
    assert all(r["screened"] == 0 for r in slow.trace)
    same(fast, slow)
