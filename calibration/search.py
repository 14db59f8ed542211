"""Differential evolution, stepped one generation at a time, with a checkpoint after each.

scipy's :class:`DifferentialEvolutionSolver` is driven with ``next()`` instead of ``solve()`` so
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
from scipy.optimize._differentialevolution import DifferentialEvolutionSolver
from tqdm import tqdm

from infra.atomic import atomic_write_json

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


def _solver(
    objective, bounds, settings: SearchSettings, recorder, x0=None
) -> DifferentialEvolutionSolver:
    n = len(bounds)
    npop = settings.popsize * n
    maxiter = max(0, settings.budget // npop - 1)
    init: Any = "latinhypercube"
    if x0 is not None and settings.init_spread > 0:
        init = _local_init(bounds, np.asarray(x0, dtype=float), npop, settings)
    return DifferentialEvolutionSolver(
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


def _rng_state(rng: np.random.Generator) -> dict:
    return rng.bit_generator.state


def _save(path: Path | None, state: dict) -> None:
    if path is not None:
        atomic_write_json(path, state)


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
    fingerprint = {
        "search": settings.to_dict(),
        "x0": None if x0 is None else [float(v) for v in x0],
        **(fingerprint or {}),
    }
    xs: list = []
    fs: list = []
    trace: list = []
    recorder = _Recorder(map_fn, xs, fs)
    solver = _solver(objective, bounds, settings, recorder, x0)
    generation = 0
    phase = "de"
    t_start = time.perf_counter()
    elapsed0 = 0.0
    refine_state: dict | None = None
    if resume:
        if checkpoint is None or not Path(checkpoint).is_file():
            raise ValueError(f"--resume: no checkpoint at {checkpoint}")
        state = _load(checkpoint, fingerprint)
        solver.population = np.array(state["population"], dtype=float)
        solver.population_energies = np.array(state["energies"], dtype=float)
        solver.feasible = np.array(state["feasible"], dtype=bool)
        solver.constraint_violation = np.array(state["constraint_violation"], dtype=float)
        solver.random_number_generator.bit_generator.state = state["rng"]
        solver._random_population_index = np.array(state["population_index"], dtype=np.int64)
        solver._nfev = int(state["nfev"])
        generation = int(state["generation"])
        xs.extend(state["evaluated_x"])
        fs.extend(state["evaluated_f"])
        trace.extend(state["trace"])
        phase = state["phase"]
        refine_state = state.get("refine")
        elapsed0 = float(state.get("elapsed_seconds", 0.0))

    def snapshot() -> dict:
        return {
            "version": CHECKPOINT_VERSION,
            "fingerprint": fingerprint,
            "phase": phase,
            "generation": generation,
            "nfev": int(solver._nfev),
            "population": solver.population.tolist(),
            "energies": solver.population_energies.tolist(),
            "feasible": solver.feasible.tolist(),
            "constraint_violation": solver.constraint_violation.tolist(),
            "rng": _rng_state(solver.random_number_generator),
            "population_index": solver._random_population_index.tolist(),
            "evaluated_x": xs,
            "evaluated_f": fs,
            "trace": trace,
            "refine": refine_state,
            "elapsed_seconds": elapsed0 + time.perf_counter() - t_start,
        }

    steps = 0
    bar = tqdm(
        total=solver.maxiter,
        initial=min(generation, solver.maxiter),
        desc="calibration (DE generations)",
        disable=not progress,
        dynamic_ncols=True,
    )
    try:
        while phase == "de":
            if generation >= solver.maxiter or (generation > 0 and solver.converged()):
                phase = "refine" if settings.refine > 0 else "done"
                _save(checkpoint, snapshot())
                break
            if stop_after is not None and steps >= stop_after:
                return _partial(solver, generation, xs, fs, trace)
            try:
                next(solver)
            except StopIteration:
                generation = solver.maxiter
                continue
            generation += 1
            steps += 1
            e = solver.population_energies
            trace.append(
                {
                    "phase": "de",
                    "generation": generation,
                    "nfev": int(solver._nfev),
                    "best": float(e[0]),
                    "median": float(np.median(e)),
                    "convergence": float(np.std(e) / max(abs(np.mean(e)), 1e-300)),
                }
            )
            bar.update(1)
            bar.set_postfix(best=f"{e[0]:.4g}", nfev=solver._nfev)
            _save(checkpoint, snapshot())
    finally:
        bar.close()

    converged = generation > 0 and bool(solver.converged())
    best_x = solver.x.copy()
    best_f = float(solver.population_energies[0])
    if phase == "refine":
        unit = np.array([hi - lo for lo, hi in bounds])
        lows = np.array([lo for lo, _ in bounds])
        highs = np.array([hi for _, hi in bounds])
        if refine_state is None:
            refine_state = {
                "x": best_x.tolist(),
                "f": best_f,
                "step": settings.refine_step,
                "used": 0,
                "iteration": 0,
            }
        per_step = 2 * len(bounds)
        rbar = tqdm(
            total=settings.refine // per_step,
            initial=refine_state["iteration"],
            desc="calibration (refinement steps)",
            disable=not progress,
            dynamic_ncols=True,
        )
        while refine_state["used"] + per_step <= settings.refine:
            if refine_state["step"] < 1e-3:
                break
            if stop_after is not None and steps >= stop_after:
                rbar.close()
                _save(checkpoint, snapshot())
                return _partial(solver, generation, xs, fs, trace)
            center = np.array(refine_state["x"])
            moves = []
            for i in range(len(bounds)):
                for sign in (1.0, -1.0):
                    v = center.copy()
                    v[i] = np.clip(v[i] + sign * refine_state["step"] * unit[i], lows[i], highs[i])
                    moves.append(v)
            values = recorder(objective, moves)
            refine_state["used"] += len(moves)
            refine_state["iteration"] += 1
            j = int(np.argmin(values))
            if values[j] < refine_state["f"]:
                refine_state["x"], refine_state["f"] = moves[j].tolist(), float(values[j])
            else:
                refine_state["step"] /= 2.0
            steps += 1
            trace.append(
                {
                    "phase": "refine",
                    "generation": generation + refine_state["iteration"],
                    "nfev": int(solver._nfev) + refine_state["used"],
                    "best": float(refine_state["f"]),
                    "median": float(np.median(values)),
                    "convergence": float(refine_state["step"]),
                }
            )
            rbar.update(1)
            rbar.set_postfix(best=f"{refine_state['f']:.4g}", step=refine_state["step"])
            _save(checkpoint, snapshot())
        rbar.close()
        phase = "done"
        _save(checkpoint, snapshot())
    if refine_state is not None and refine_state["f"] < best_f:
        best_x, best_f = np.array(refine_state["x"]), float(refine_state["f"])
    return SearchResult(
        x=best_x,
        fun=best_f,
        nfev=len(fs),
        generations=generation,
        converged=converged,
        evaluated_x=np.array(xs, dtype=float).reshape(len(fs), len(bounds)),
        evaluated_f=np.array(fs, dtype=float),
        trace=trace,
        elapsed=elapsed0 + time.perf_counter() - t_start,
    )


def _partial(solver, generation, xs, fs, trace) -> SearchResult:
    return SearchResult(
        x=solver.x.copy(),
        fun=float(solver.population_energies[0]),
        nfev=len(fs),
        generations=generation,
        converged=False,
        evaluated_x=np.array(xs, dtype=float).reshape(len(fs), -1),
        evaluated_f=np.array(fs, dtype=float),
        trace=list(trace),
        finished=False,
    )
