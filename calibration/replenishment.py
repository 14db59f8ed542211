"""ABC-SMC whose particles keep equal weights: replenishment with Metropolis-Hastings moves
(Drovandi & Pettitt 2011, *Biometrics* 67:225; the adaptive-tolerance ABC-SMC of Del Moral,
Doucet & Jasra 2012 with one simulation per particle).

Why not importance weights (:mod:`calibration.inference`, pyabc): in the 19 to 31 dimensions of
our stages, prior / proposal weights collapse to a handful of particles within one or two
generations, seeded or not (measured there). Here no particle ever carries a weight: each
generation is an equally weighted sample of the ABC posterior at its tolerance, so the
effective sample size is the population and the distinct sets are counted, not estimated.

**Generation 0**: ``ceil(population / init_alpha)`` draws from the stage's prior (uniform on the
ranges in search coordinates; for the earlier stages' parameters, their posterior's KDE, as in
:class:`calibration.inference.Prior`); the best ``population`` are kept: an exact ABC rejection
sample at epsilon_0 = the largest kept distance.

**Generation t**: epsilon_t = the distance below which ``1 - alpha`` of the particles lie; the
others are dropped and replaced by copies of survivors drawn uniformly; each copy then makes
``R_t`` Metropolis-Hastings steps with a Gaussian random walk (covariance 2.38^2 / d times the
survivors' covariance), accepting a proposal with probability min(1, prior ratio) *and* only if
its simulated distance is at most epsilon_t (steps are folded back into the ranges at their
faces, which keeps the proposal symmetric; a proposal refused by the prior ratio costs no
simulation). That kernel leaves the ABC posterior at epsilon_t invariant,
so the population stays an equally weighted sample of it. ``R_t`` follows the last acceptance
rate p: the smallest R with (1 - p)^R <= ``MISS`` (a copy left unmoved with probability at most
5%), at most ``MAX_STEPS``.

**Start at the point estimate** (``start="point"``): generation 0 draws normals around the
stage's point estimate (sd ``init_spread`` of each range, a share ``init_prior_share`` from the
prior) and keeps the best ``population``. That sample is not the ABC posterior at its tolerance;
the moves are what make it one: their kernel leaves every ABC posterior invariant, so repeated
moves carry any start inside the tolerance to it (ABC-MCMC, Marjoram et al. 2003, with a
population of chains). Why offer it: from the prior, stage A's tolerance fell by about a fifth a
generation (measured: 778, 178, 84, 69 in generations 1-4, at 0.2 s a simulation), hours away
from the fit of the point estimate; from the point it starts there. With
``init_inherited="prior"`` the earlier stages' parameters of generation 0 are drawn from their
prior (the earlier posterior's KDE) instead: a stage-B start around the point is otherwise far
narrower in them than the stage-A posterior, and the moves widen a cloud only by a fraction of
its own spread a generation (measured on stage B, docs/calibration.md).

**Final tolerance** (``tolerance`` > 0): once the alpha-quantile of the distances falls to it,
epsilon is held there; the particles beyond it are replaced by copies of those within, and
*every* particle moves each generation. After ``hold`` held generations the population has made
at least ``hold`` x R proposals per particle at the final tolerance; the trace records, per
generation, the largest move of a parameter's mean (in sds) and of its sd (log ratio), which tell
whether the cloud has stopped spreading (the check of a start at the point).

**Determinism and faults**: every copy's moves use numpy's ``SeedSequence([seed, stage, t,
i])``; the copies are mapped through the project's executors (this process, a pool, Dask) and
put back in order, so the result never depends on the executor or the number of workers. The
state is written atomically after every generation, and a generation in progress writes the
copies already moved (``mcmc-{stage}.partial.json``, at most every ``PARTIAL_EVERY`` seconds); a
run killed (``kill -9`` included) and resumed continues from the last whole generation, moving
only the copies not yet written, with the same result as an uninterrupted run.
A run stopped by its budget (evaluations or generations) can be resumed with a larger one: the
result is that of a run given the larger budget from the start (:func:`extends`).

**Stopping** (between generations, deterministic): ``hold`` generations held at the final
tolerance; ``generations`` done; epsilon at or below ``min_epsilon``; the last acceptance rate
below ``min_acceptance`` (the moves no longer mix); or the next generation's expected
evaluations (copies x R) would overrun the stage's budget.
"""

from __future__ import annotations

import json
import math
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from infra.atomic import atomic_write_json
from infra.execution import SerialExecutor

from .inference import (
    AbcSettings,
    Posterior,
    StageProblem,
    StageResult,
    diagnostics,
    evaluate,
    mixture_sample,
    ordered_map,
    simulate,
    stop_reason,
)

#: A copy is left unmoved with probability at most this (it sets the steps per generation).
MISS = 0.05
#: Metropolis-Hastings steps per copy and generation, at most.
MAX_STEPS = 30
STATE_NAME = "mcmc-{stage}.json"
#: The copies of a generation in progress already moved (see :meth:`_Run.generation`).
PARTIAL_NAME = "mcmc-{stage}.partial.json"
#: Seconds between two writes of a generation in progress, at least.
PARTIAL_EVERY = 60.0


def _seq(seed: int, stage: str, t: int, *more: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([int(seed), zlib.crc32(stage.encode()), int(t) + 1, *more])


def reflect(y: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Fold a point back into the box, mirror-wise at each face. A Gaussian step folded so is
    still a symmetric proposal (the images of y seen from x are those of x seen from y), so the
    Metropolis-Hastings ratio is unchanged; without folding, most steps of a population spread
    over 19 ranges leave the box and are wasted (measured: 95% at the first generations)."""
    span = high - low
    z = np.mod((y - low) / span, 2.0)
    return low + np.where(z > 1.0, 2.0 - z, z) * span


def _move(job) -> dict[str, Any]:
    """``steps`` Metropolis-Hastings steps of one copy at tolerance ``eps`` (top level)."""
    objective, distance, prior, x, d, q, eps, chol, steps, seq = job
    rng = np.random.default_rng(seq)
    # a proposal the distance can refuse from the first weeks is not run to the end (its
    # distance is the same: GatedDistance.screen); the moves are those of whole runs
    screen = getattr(distance, "screen", None)
    x, q = np.array(x, dtype=float), np.array(q, dtype=float)
    lp = prior.log_density(x)
    proposals = simulations = accepted = screened = 0
    for _ in range(steps):
        y = reflect(x + chol @ rng.standard_normal(x.size), prior.low, prior.high)
        u = rng.random()
        proposals += 1
        ly = prior.log_density(y)
        if not math.isfinite(ly) or math.log(max(u, 1e-300)) > ly - lp:
            continue
        stats = screen(objective, y) if screen is not None else None
        if stats is None:
            stats = simulate(objective, y)
        else:
            screened += 1
        simulations += 1
        dy = float(distance(stats))
        if dy <= eps:
            x, d, q, lp = y, dy, np.asarray(stats["q"], dtype=float), ly
            accepted += 1
    return {
        "x": x,
        "d": d,
        "q": q,
        "proposals": proposals,
        "simulations": simulations,
        "accepted": accepted,
        "screened": screened,
    }


def _json_floats(a) -> list:
    """An array as JSON numbers, NaN as null (``np.array(..., dtype=float)`` reads it back)."""
    a = np.asarray(a, dtype=float)
    return np.where(np.isfinite(a), a, None).tolist()


def _steps(acceptance: float) -> int:
    if acceptance <= 0:
        return MAX_STEPS
    if acceptance >= 1:
        return 1
    return int(min(MAX_STEPS, max(1, math.ceil(math.log(MISS) / math.log(1 - acceptance)))))


def _without_budget(fingerprint: dict) -> dict:
    rest = {k: v for k, v in fingerprint.items() if k != "max_evaluations"}
    rest["abc"] = {k: v for k, v in fingerprint.get("abc", {}).items() if k != "generations"}
    return rest


def extends(old: dict | None, new: dict) -> bool:
    """Whether a run fingerprinted ``new`` may continue one fingerprinted ``old``: the same run
    with a budget (evaluations, generations) at least as large. A budget only decides when the
    generations stop, never what one does, so the continued run is the run that would have had
    the larger budget from the start."""
    if not isinstance(old, dict) or _without_budget(old) != _without_budget(new):
        return False
    return new.get("max_evaluations", 0) >= old.get("max_evaluations", 0) and new.get(
        "abc", {}
    ).get("generations", 0) >= old.get("abc", {}).get("generations", 0)


class _Run:
    """A stage in progress: the particles, the trace, and the state file."""

    def __init__(self, problem: StageProblem, settings: AbcSettings, out_dir: Path, executor):
        self.problem, self.settings, self.executor = problem, settings, executor
        self.path = Path(out_dir) / STATE_NAME.format(stage=problem.name)
        self.partial_path = Path(out_dir) / PARTIAL_NAME.format(stage=problem.name)
        self.prior = problem.prior(settings)
        self.distance = problem.make_distance()
        self.fingerprint = {"method": "replenishment", **problem.fingerprint(settings)}
        self.x = self.d = self.q = None
        self.trace: list[dict[str, Any]] = []
        self.steps = 1

    # --- state ------------------------------------------------------------------------------

    def load(self) -> bool:
        if not self.path.is_file():
            return False
        state = json.loads(self.path.read_text())
        if not extends(state.get("fingerprint"), self.fingerprint):
            raise ValueError(
                f"--resume: {self.path} belongs to a run with other settings, targets or "
                "starting point; rerun without --resume or with the same settings (only "
                "--abc-evaluations and --generations may grow)"
            )
        self.x = np.array(state["x"], dtype=float)
        self.d = np.array(state["d"], dtype=float)
        self.q = np.array(state["q"], dtype=float)
        self.trace, self.steps = state["trace"], int(state["steps"])
        return True

    def save(self) -> None:
        atomic_write_json(
            self.path,
            {
                "fingerprint": self.fingerprint,
                "x": self.x.tolist(),
                "d": self.d.tolist(),
                "q": _json_floats(self.q),
                "trace": self.trace,
                "steps": self.steps,
            },
        )

    # --- generations ------------------------------------------------------------------------

    def _record(
        self,
        t: int,
        eps: float,
        evaluations: int,
        acceptance: float,
        wall: float,
        held: bool = False,
        screened: int = 0,
    ):
        w = np.full(len(self.d), 1.0 / len(self.d))
        mean, sd = w @ self.x, self.x.std(axis=0)
        prev = self.trace[-1] if self.trace else None
        shift = sd_change = None
        if prev is not None:
            pm, ps = np.array(prev["mean"]), np.array(prev["sd"])
            shift = float(np.max(np.abs(mean - pm) / np.maximum(ps, 1e-12)))
            sd_change = float(np.max(np.abs(np.log(np.maximum(sd, 1e-12) / np.maximum(ps, 1e-12)))))
        self.trace.append(
            {
                "generation": t,
                "epsilon": float(eps),
                "evaluations": int(evaluations),
                "screened": int(screened),
                "acceptance_rate": float(acceptance),
                "ess": float(len(self.d)),
                "distinct": int(len(np.unique(self.x, axis=0))),
                "mh_steps": int(self.steps),
                "median_distance": float(np.median(self.d)),
                "best_distance": float(np.min(self.d)),
                "wall_seconds": float(wall),
                "max_mean_shift_sd": shift,
                "max_log_sd_change": sd_change,
                "held": bool(held),
                "mean": mean.tolist(),
                "sd": sd.tolist(),
            }
        )

    def generation0(self, progress: bool) -> None:
        p, s = self.problem, self.settings
        t0 = time.perf_counter()
        m = math.ceil(s.population / s.init_alpha)
        rng = np.random.default_rng(_seq(s.seed, p.name, 0))
        if s.start == "point":
            low, high = self.prior.low, self.prior.high
            sd = s.spreads(list(p.space.names), low, high)
            x = mixture_sample(rng, m, p.center, sd, low, high, s.init_prior_share)
            if s.init_inherited == "prior" and self.prior.kde_names:
                x[:, self.prior.kde_idx] = self.prior.sample_kde(rng, m)
            if p.start_rows is not None:
                rows = p.start_rows
                names = list(p.space.names)
                cols = [n for n in rows.names if n in names]
                w = np.asarray(rows.weights, dtype=float)
                pick = rng.choice(len(w), size=m, p=w / w.sum())
                x[:, [names.index(n) for n in cols]] = rows.x[pick][
                    :, [list(rows.names).index(n) for n in cols]
                ]
        else:
            x = self.prior.sample(rng, m)
        jobs = [(p.objective, self.distance, row) for row in x]
        results = ordered_map(self.executor, evaluate, jobs, f"ABC {p.name} generation 0", progress)
        d = np.array([r[1] for r in results])
        keep = np.lexsort((np.arange(m), d))[: s.population]
        self.x, self.d = x[keep], d[keep]
        self.q = np.array([np.asarray(results[i][0]["q"], dtype=float) for i in keep])
        self._record(0, self.d.max(), m, s.population / m, time.perf_counter() - t0)
        self.save()

    def generation(self, t: int, progress: bool) -> None:
        p, s = self.problem, self.settings
        t0 = time.perf_counter()
        n = len(self.d)
        order = np.lexsort((np.arange(n), self.d))
        n_keep = self.survivors()
        eps = float(self.d[order[n_keep - 1]])
        held = 0 < s.tolerance and eps <= s.tolerance
        if held:  # at the final tolerance: keep every particle within it, move them all
            eps = s.tolerance
            n_keep = int(np.count_nonzero(self.d <= eps))
        keep, drop = order[:n_keep], order[n_keep:]
        rng = np.random.default_rng(_seq(s.seed, p.name, t))
        parents = keep[rng.integers(0, n_keep, size=drop.size)]
        slots, starts = drop, parents
        if held:
            slots, starts = np.concatenate([keep, drop]), np.concatenate([keep, parents])
        k = self.x.shape[1]
        span = self.prior.high - self.prior.low
        cov = np.cov(self.x[keep], rowvar=False).reshape(k, k) * (2.38**2 / k)
        cov += np.diag((1e-9 * span) ** 2)
        chol = np.linalg.cholesky(cov)
        jobs = [
            (
                p.objective,
                self.distance,
                self.prior,
                self.x[j],
                float(self.d[j]),
                self.q[j],
                eps,
                chol,
                self.steps,
                _seq(s.seed, p.name, t, i),
            )
            for i, j in enumerate(starts)
        ]
        moved = self._moves(t, jobs, progress)
        for slot, r in zip(slots, moved, strict=True):
            self.x[slot], self.d[slot], self.q[slot] = r["x"], r["d"], r["q"]
        proposals = sum(r["proposals"] for r in moved)
        acceptance = sum(r["accepted"] for r in moved) / max(proposals, 1)
        self._record(
            t,
            eps,
            sum(r["simulations"] for r in moved),
            acceptance,
            time.perf_counter() - t0,
            held,
            sum(r.get("screened", 0) for r in moved),
        )
        self.steps = _steps(acceptance)
        self.save()
        self.partial_path.unlink(missing_ok=True)

    # --- a generation in progress -----------------------------------------------------------

    def _moves(self, t: int, jobs: list, progress: bool) -> list[dict[str, Any]]:
        """The copies' moves of generation ``t``, those already made by a killed run read back
        from the partial file. Why: a held generation of stage B takes hours (thousands of
        simulations); without it a run killed in the middle starts the generation again. Each
        copy is seeded by its own index, so a copy read back is the copy that would be made
        again: the generation is the same whether it ran in one go or in pieces."""
        done = self._load_partial(t, len(jobs))
        todo = [i for i in range(len(jobs)) if i not in done]
        last = time.monotonic()

        def keep(i: int, r: dict[str, Any]) -> None:
            nonlocal last
            done[todo[i]] = r
            if time.monotonic() - last >= PARTIAL_EVERY:
                self._save_partial(t, done)
                last = time.monotonic()

        ordered_map(
            self.executor,
            _move,
            [jobs[i] for i in todo],
            f"ABC {self.problem.name} generation {t}",
            progress,
            each=keep,
        )
        return [done[i] for i in range(len(jobs))]

    def _load_partial(self, t: int, n: int) -> dict[int, dict[str, Any]]:
        if not self.partial_path.is_file():
            return {}
        state = json.loads(self.partial_path.read_text())
        if state.get("fingerprint") != self.fingerprint or state.get("generation") != t:
            return {}  # another run's or another generation's: ignored, then overwritten
        out = {}
        for key, r in state["moved"].items():
            i = int(key)
            if 0 <= i < n:
                out[i] = {
                    **r,
                    "x": np.array(r["x"], dtype=float),
                    "q": np.array(r["q"], dtype=float),  # None back to NaN, as in load()
                }
        return out

    def _save_partial(self, t: int, done: dict[int, dict[str, Any]]) -> None:
        atomic_write_json(
            self.partial_path,
            {
                "fingerprint": self.fingerprint,
                "generation": int(t),
                "moved": {
                    str(i): {
                        **r,
                        "x": np.asarray(r["x"], dtype=float).tolist(),
                        "d": float(r["d"]),
                        "q": _json_floats(r["q"]),
                    }
                    for i, r in sorted(done.items())
                },
            },
        )

    def posterior(self) -> Posterior:
        x, d, q = self.x, self.d, self.q
        order = np.lexsort(tuple(x[:, j] for j in reversed(range(x.shape[1]))) + (d,))
        n = len(d)
        return Posterior(
            self.problem.space,
            dict(self.problem.objective.base),
            x[order],
            np.full(n, 1.0 / n),
            d[order],
            q[order],
        )

    def survivors(self) -> int:
        """How many particles a generation keeps (the others are replenished)."""
        return max(2, int(math.ceil((1 - self.settings.alpha) * len(self.d))))

    def held_generations(self) -> int:
        """Generations run in a row, up to the last, held at the final tolerance."""
        n = 0
        for r in reversed(self.trace):
            if not r.get("held"):
                break
            n += 1
        return n

    def stop_reason(self) -> str | None:
        held = self.held_generations()
        if held >= self.settings.hold:
            return f"held at the tolerance {self.settings.tolerance:g} for {held} generations"
        copies = len(self.d) if held else len(self.d) - self.survivors()
        return stop_reason(
            self.trace, self.settings, self.problem.max_evaluations, copies * self.steps
        )


def run_stage(
    problem: StageProblem,
    settings: AbcSettings,
    out_dir: Path,
    executor=None,
    resume: bool = False,
    stop_after: int | None = None,
    progress: bool = True,
    log=print,
) -> StageResult:
    """Infer one stage (see the module docstring), the state in ``out_dir``; the same contract
    as :func:`calibration.inference.run_stage`."""
    if problem.start_rows is not None and settings.start != "point":
        raise ValueError(
            f"start_rows: only a start at the point draws from a posterior's rows (start is "
            f"{settings.start!r}); use start='point' or leave start_rows unset"
        )
    run = _Run(problem, settings, out_dir, executor or SerialExecutor())
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    if not (resume and run.load()):
        run.path.unlink(missing_ok=True)
        log(
            f"ABC {problem.name}: generation 0 ("
            + (
                "around the point estimate"
                if settings.start == "point"
                else "rejection from the prior"
            )
            + ")"
        )
        run.generation0(progress)
        done_here = 1
    else:
        done_here = 0
    while True:
        reason = run.stop_reason()
        if reason is not None:
            break
        evaluations = sum(r["evaluations"] for r in run.trace)
        if stop_after is not None and done_here >= stop_after:
            return _result(run, "stopped on purpose", finished=False)
        t = run.trace[-1]["generation"] + 1
        run.generation(t, progress)
        done_here += 1
        r = run.trace[-1]
        log(
            f"ABC {problem.name} generation {t}: epsilon {r['epsilon']:.4g}, acceptance "
            f"{r['acceptance_rate']:.3f}, {r['distinct']} distinct, {r['evaluations']} "
            f"evaluations ({evaluations + r['evaluations']} in the stage), next {run.steps} "
            "step(s) a copy"
        )
    log(f"ABC {problem.name}: stopped ({reason})")
    return _result(run, reason)


def _result(run: _Run, reason: str, finished: bool = True) -> StageResult:
    """The stage's result as it stands, with its diagnostics (a run stopped on purpose too:
    its record then says how far it got)."""
    trace = _public(run.trace)
    diag = {**diagnostics(trace, reason), "posterior_is_proposal": False}
    diag["distinct"] = trace[-1]["distinct"]
    diag["start"] = run.settings.start
    diag["tolerance"] = run.settings.tolerance
    diag["held_generations"] = run.held_generations()
    diag["max_log_sd_change_last"] = trace[-1].get("max_log_sd_change")
    return StageResult(
        run.problem.name,
        run.posterior(),
        trace,
        sum(r["evaluations"] for r in trace),
        reason,
        finished=finished,
        diagnostics=diag,
        method="replenishment",
    )


def _public(trace: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The trace rows without the per-parameter means and sds kept for the shift."""
    return [{k: v for k, v in r.items() if k not in ("mean", "sd")} for r in trace]
