"""Differential evolution, stepped one generation at a time, with a checkpoint after each.

scipy's ``DifferentialEvolutionSolver`` is driven with ``next()`` instead of ``solve()``
(through :mod:`calibration.stepped_de`, the one module that touches scipy's private names) so
that, after every generation, the whole search state is written atomically to a checkpoint: the
population, its energies, the solver's random generator state (and the index array it shuffles
in place), the evaluation count, the convergence trace and every parameter set evaluated so far
(the ensemble is drawn from those). ``resume=True`` rebuilds the solver with the same settings,
restores that state and carries on, so a run killed midway and resumed ends with exactly the same
result as an uninterrupted run with the same seed.

The initial population can be concentrated around a starting point (``x0``, the planning
defaults): with a few hundred evaluations in 16 dimensions a population spread over the whole
box rarely beats the planning values, while one around them improves steadily; mutation still
reaches the whole range (the bounds are not narrowed).

An optional local refinement (a parallel compass search: all 2N axis moves of a step evaluated
together, move to the best improvement, else halve the step) follows, checkpointed the same way.
Evaluations go through ``map``: any ordered map (``infra.execution``) gives the same numbers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from infra.atomic import atomic_write_json

from .stepped_de import SteppedSolver

CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class SearchSettings:
    """What determines a search's result (the number of workers does not)."""

    budget: int = 640  # objective evaluations for differential evolution, initial population too
    popsize: int = 2  # scipy's multiplier: population = popsize * number of parameters
    seed: int = 0  # seeds the search's own random generator, never the model
    tol: float = 0.01  # scipy's relative convergence tolerance on the population's energies
    mutation: tuple[float, float] = (0.5, 1.0)
    recombination: float = 0.3
    init_spread: float = 0.07  # initial population: +- this share of each range around x0 (0: all)
    refine: int = 480  # evaluations for the local refinement after DE (0: none)
    refine_step: float = 0.05  # first step of the refinement, as a share of each range

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mutation"] = list(self.mutation)
        return d


@dataclass
class SearchResult:
    x: np.ndarray  # best vector (search coordinates)
    fun: float  # its loss
    nfev: int
    generations: int
    converged: bool
    evaluated_x: np.ndarray  # every vector evaluated, in order
    evaluated_f: np.ndarray
    trace: list[dict[str, Any]]  # one row per generation / refinement step
    finished: bool = True  # False when stopped early on purpose (``stop_after``)
    elapsed: float = 0.0  # wall seconds of the search, summed over resumed sessions


class _Recorder:
    """The map given to scipy: evaluates through ``map_fn`` and records every evaluation."""

    def __init__(self, map_fn: Callable, xs: list, fs: list):
        self.map_fn, self.xs, self.fs = map_fn, xs, fs

    def __call__(self, fn, items):
        items = [np.asarray(v, dtype=float) for v in items]
        out = [float(v) for v in self.map_fn(fn, items)]
        self.xs.extend(v.tolist() for v in items)
        self.fs.extend(out)
        return out


def population_size(n_params: int, settings: SearchSettings) -> int:
    """Sets in one generation of differential evolution (scipy's smallest population is 5)."""
    return max(5, settings.popsize * n_params)


def smallest_budget(n_params: int, settings: SearchSettings) -> int:
    """The smallest budget that runs one generation: the initial population, then one more."""
    return 2 * population_size(n_params, settings)


def _solver(objective, bounds, settings: SearchSettings, recorder, x0=None) -> SteppedSolver:
    n = len(bounds)
    npop = population_size(n, settings)
    maxiter = max(0, settings.budget // npop - 1)
    init: Any = "latinhypercube"
    if x0 is not None and settings.init_spread > 0:
        init = _local_init(bounds, np.asarray(x0, dtype=float), npop, settings)
    return SteppedSolver(
        objective,
        bounds,
        strategy="best1bin",
        maxiter=maxiter,
        popsize=settings.popsize,
        tol=settings.tol,
        mutation=settings.mutation,
        recombination=settings.recombination,
        rng=np.random.default_rng(settings.seed),
        maxfun=settings.budget,
        polish=False,
        init=init,
        updating="deferred",
        workers=recorder,
        x0=None if isinstance(init, np.ndarray) else x0,
    )


def _local_init(bounds, x0: np.ndarray, npop: int, settings: SearchSettings) -> np.ndarray:
    """A Latin hypercube in a box of +- ``init_spread`` of each range around ``x0`` (clipped to
    the bounds), with ``x0`` itself first: the search starts where the planning values already
    fit roughly, while mutation can still reach the whole range."""
    from scipy.stats import qmc

    lo = np.array([b[0] for b in bounds])
    hi = np.array([b[1] for b in bounds])
    half = settings.init_spread * (hi - lo)
    a, b = np.maximum(lo, x0 - half), np.minimum(hi, x0 + half)
    sample = qmc.LatinHypercube(d=len(bounds), seed=np.random.default_rng(settings.seed)).random(
        npop
    )
    pop = a + sample * (b - a)
    pop[0] = x0
    return pop


def _load(path: Path, fingerprint: dict) -> dict:
    state = json.loads(Path(path).read_text())
    if state.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"--resume: {path} was written by another checkpoint version")
    if state["fingerprint"] != json.loads(json.dumps(fingerprint, default=str)):
        raise ValueError(
            f"--resume: {path} belongs to a run with other settings "
            f"({state['fingerprint']}); rerun without --resume or with the same settings"
        )
    return state


class _Search:
    """One search in progress: the solver, everything evaluated, the trace and the phase
    (``de``, then ``refine``, then ``done``), with the checkpoint that holds them all."""

    def __init__(self, objective, bounds, settings: SearchSettings, map_fn, checkpoint, x0):
        self.objective, self.bounds, self.settings = objective, bounds, settings
        self.checkpoint = checkpoint
        self.xs: list = []
        self.fs: list = []
        self.trace: list = []
        self.recorder = _Recorder(map_fn, self.xs, self.fs)
        self.solver = _solver(objective, bounds, settings, self.recorder, x0)
        self.generation = 0
        self.phase = "de"
        self.refine_state: dict | None = None
        self.steps = 0  # generations and refinement steps made in this call
        self.t_start = time.perf_counter()
        self.elapsed0 = 0.0  # seconds of earlier sessions (resume)
        self.fingerprint: dict = {}

    # --- checkpoint ---------------------------------------------------------------------------

    def resume(self) -> None:
        """Continue from the checkpoint (which must exist and match the fingerprint)."""
        if self.checkpoint is None or not Path(self.checkpoint).is_file():
            raise ValueError(f"--resume: no checkpoint at {self.checkpoint}")
        state = _load(self.checkpoint, self.fingerprint)
        self.solver.restore(state)
        self.generation = int(state["generation"])
        self.xs.extend(state["evaluated_x"])
        self.fs.extend(state["evaluated_f"])
        self.trace.extend(state["trace"])
        self.phase = state["phase"]
        self.refine_state = state.get("refine")
        self.elapsed0 = float(state.get("elapsed_seconds", 0.0))

    def snapshot(self) -> dict:
        return {
            "version": CHECKPOINT_VERSION,
            "fingerprint": self.fingerprint,
            "phase": self.phase,
            "generation": self.generation,
            **self.solver.state(),
            "evaluated_x": self.xs,
            "evaluated_f": self.fs,
            "trace": self.trace,
            "refine": self.refine_state,
            "elapsed_seconds": self.elapsed(),
        }

    def save(self) -> None:
        if self.checkpoint is not None:
            atomic_write_json(self.checkpoint, self.snapshot())

    def elapsed(self) -> float:
        return self.elapsed0 + time.perf_counter() - self.t_start

    # --- the two phases -----------------------------------------------------------------------

    def evolve(self, stop_after: int | None, progress: bool) -> bool:
        """Differential evolution, one generation at a time, saved after each; False when
        stopped by ``stop_after``."""
        solver = self.solver
        bar = tqdm(
            total=solver.maxiter,
            initial=min(self.generation, solver.maxiter),
            desc="calibration (DE generations)",
            disable=not progress,
            dynamic_ncols=True,
        )
        try:
            while self.phase == "de":
                if self.generation >= solver.maxiter or (
                    self.generation > 0 and solver.converged()
                ):
                    self.phase = "refine" if self.settings.refine > 0 else "done"
                    self.save()
                    break
                if stop_after is not None and self.steps >= stop_after:
                    return False
                if not solver.step():
                    self.generation = solver.maxiter
                    continue
                self.generation += 1
                self.steps += 1
                e = solver.energies
                self.trace.append(
                    {
                        "phase": "de",
                        "generation": self.generation,
                        "nfev": solver.nfev,
                        "best": float(e[0]),
                        "median": float(np.median(e)),
                        "convergence": float(np.std(e) / max(abs(np.mean(e)), 1e-300)),
                    }
                )
                bar.update(1)
                bar.set_postfix(best=f"{e[0]:.4g}", nfev=solver.nfev)
                self.save()
        finally:
            bar.close()
        return True

    def refine(self, stop_after: int | None, progress: bool) -> bool:
        """The compass search from the best set, saved after each step; False when stopped by
        ``stop_after``."""
        settings, bounds = self.settings, self.bounds
        unit = np.array([hi - lo for lo, hi in bounds])
        lows = np.array([lo for lo, _ in bounds])
        highs = np.array([hi for _, hi in bounds])
        if self.refine_state is None:
            self.refine_state = {
                "x": self.solver.x.tolist(),
                "f": float(self.solver.energies[0]),
                "step": settings.refine_step,
                "used": 0,
                "iteration": 0,
            }
        state = self.refine_state
        per_step = 2 * len(bounds)
        bar = tqdm(
            total=settings.refine // per_step,
            initial=state["iteration"],
            desc="calibration (refinement steps)",
            disable=not progress,
            dynamic_ncols=True,
        )
        while state["used"] + per_step <= settings.refine:
            if state["step"] < 1e-3:
                break
            if stop_after is not None and self.steps >= stop_after:
                bar.close()
                self.save()
                return False
            center = np.array(state["x"])
            moves = []
            for i in range(len(bounds)):
                for sign in (1.0, -1.0):
                    v = center.copy()
                    v[i] = np.clip(v[i] + sign * state["step"] * unit[i], lows[i], highs[i])
                    moves.append(v)
            values = self.recorder(self.objective, moves)
            state["used"] += len(moves)
            state["iteration"] += 1
            j = int(np.argmin(values))
            if values[j] < state["f"]:
                state["x"], state["f"] = moves[j].tolist(), float(values[j])
            else:
                state["step"] /= 2.0
            self.steps += 1
            self.trace.append(
                {
                    "phase": "refine",
                    "generation": self.generation + state["iteration"],
                    "nfev": self.solver.nfev + state["used"],
                    "best": float(state["f"]),
                    "median": float(np.median(values)),
                    "convergence": float(state["step"]),
                }
            )
            bar.update(1)
            bar.set_postfix(best=f"{state['f']:.4g}", step=state["step"])
            self.save()
        bar.close()
        self.phase = "done"
        self.save()
        return True

    # --- results ------------------------------------------------------------------------------

    def result(self, converged: bool) -> SearchResult:
        """The best of the evolution and of the refinement."""
        best_x = self.solver.x.copy()
        best_f = float(self.solver.energies[0])
        if self.refine_state is not None and self.refine_state["f"] < best_f:
            best_x, best_f = np.array(self.refine_state["x"]), float(self.refine_state["f"])
        return SearchResult(
            x=best_x,
            fun=best_f,
            nfev=len(self.fs),
            generations=self.generation,
            converged=converged,
            evaluated_x=np.array(self.xs, dtype=float).reshape(len(self.fs), len(self.bounds)),
            evaluated_f=np.array(self.fs, dtype=float),
            trace=self.trace,
            elapsed=self.elapsed(),
        )

    def partial(self) -> SearchResult:
        """Where a search stopped on purpose stands (``finished=False``)."""
        return SearchResult(
            x=self.solver.x.copy(),
            fun=float(self.solver.energies[0]),
            nfev=len(self.fs),
            generations=self.generation,
            converged=False,
            evaluated_x=np.array(self.xs, dtype=float).reshape(len(self.fs), -1),
            evaluated_f=np.array(self.fs, dtype=float),
            trace=list(self.trace),
            finished=False,
        )


def differential_evolution(
    objective: Callable,
    bounds: list[tuple[float, float]],
    settings: SearchSettings,
    map_fn: Callable = lambda fn, items: [fn(v) for v in items],
    checkpoint: Path | None = None,
    resume: bool = False,
    fingerprint: dict | None = None,
    stop_after: int | None = None,
    progress: bool = True,
    x0=None,
) -> SearchResult:
    """Minimise ``objective`` over ``bounds``; see the module docstring.

    Args:
        map_fn: an ordered map ``map_fn(fn, items) -> list`` (e.g. ``executor.map``).
        checkpoint: file written atomically after every generation (None: no checkpoint).
        resume: continue from ``checkpoint`` (which must exist and match ``fingerprint``).
        fingerprint: everything that determines the result (settings, targets, space...),
            checked on resume so a checkpoint is never continued with other settings.
        stop_after: stop after this many generations in this call (tests simulate a kill).
        x0: a starting point put into the initial population (replaces its first member).
    """
    search = _Search(objective, bounds, settings, map_fn, checkpoint, x0)
    search.fingerprint = {
        "search": settings.to_dict(),
        "x0": None if x0 is None else [float(v) for v in x0],
        **(fingerprint or {}),
    }
    if resume:
        search.resume()
    if not search.evolve(stop_after, progress):
        return search.partial()
    converged = search.generation > 0 and search.solver.converged()
    if search.phase == "refine" and not search.refine(stop_after, progress):
        return search.partial()
    return search.result(converged)
