"""ABC-SMC over the fitted uncertainties: the pieces every sampler shares (settings, prior,
distance, a stage's problem and result) and the importance-weighted sampler of pyabc; the default
sampler, with equal weights, is :mod:`calibration.replenishment` (see *Known limit* below). Either
gives the same posterior for a seed whatever runs it, and resumes after a kill.

**Why pyabc** (0.13): ABC-SMC with adaptive tolerances (each generation's epsilon is a quantile of
the last generation's distances), importance weights and kernel proposals fitted to the last
population; an SQL history holding every generation, from which ``ABCSMC.load`` continues a
stopped run; and a sampler interface, through which the project's executors (this process, a
local process pool, a Dask cluster: :mod:`infra.execution`) evaluate the particles.

**What is inferred.** A stage (:mod:`calibration.stages`) fits its parameters, plus those of the
stages before it, to the training figures of its windows. Parameters live in the coordinates of
:class:`calibration.objective.SearchSpace` (log10 for ``open_share`` and ``repeat_odds``). The
prior of a stage's new parameters is uniform on their allowed ranges in those coordinates (so
log-uniform where log-scaled); the prior of the earlier stages' parameters is the earlier
posterior, as a weighted Gaussian kernel density estimate of its particles (Scott's bandwidth
times ``kde_factor``, truncated to the ranges): :class:`Prior`. With an indicator kernel (accept
when the distance is within epsilon) re-using the 2018-2019 figures in stage B does not weigh
them twice as a likelihood would; it keeps their fit within stage B's tolerance.

**Distance.** The calibration loss (:func:`calibration.loss.loss`) of the simulated quantities
averaged over the objective's fixed replicate seeds (common random numbers, the same seeds for
every particle: the seed is a function of nothing, so of the particle too), exactly the function
differential evolution minimises (:class:`calibration.objective.Objective`); runaway and failed
runs get the same high losses. The simulated quantities are the summary statistics stored in the
history (:class:`SimulatedQuantities`, :class:`LossDistance`).

**Generation 0 is seeded by the point estimate, and is a proposal, not a posterior.** Sampling
the first generation from a uniform prior over 19 dimensions wastes most evaluations on hopeless
sets, so generation 0 is written into the pyabc history by this module: ``ceil(population /
init_alpha)`` proposals, the new parameters drawn from a defensive mixture (``1 -
init_prior_share``: independent normals centred on the differential-evolution best, sd
``init_spread`` of each range, truncated to the ranges; ``init_prior_share``: the uniform prior),
the earlier stages' parameters from their prior; the best ``population`` are kept (epsilon_0 is
the largest kept distance) with equal weights. Importance weights prior / proposal at generation 0
would be exact but useless: in 12 to 19 dimensions the ratio between a particle drawn from the
uniform share and one drawn near the point is of the order of 10^8, so one particle took all the
weight (effective sample size 1, measured on the production run of 25 Nov 2026) and every later
kernel was fitted to it. Equal weights make generation 0 a set of parents only. From generation 1
on, pyabc proceeds as usual: epsilon_t = the weighted ``alpha``-quantile of generation t-1's
distances, proposals from a multivariate normal kernel fitted to generation t-1 (Silverman's
bandwidth), weights prior / proposal density, the proposal density being the kernel mixture over
the parents with the weights they were drawn with. That makes every generation from 1 on a proper
weighted ABC sample for its tolerance, whatever generation 0's weights; so a stage is only
finished with at least one generation after generation 0, and the posterior is never generation
0. What the seeding cannot guarantee is that a mode far from the point estimate is found.

**Known limit: importance weights in 19 to 31 dimensions.** Measured on stage A (19 parameters,
population 200, 1 agent per 1,000 persons, 25 Nov 2026): seeded at the point estimate, generation
1 had ESS 3 to 6; started from the prior instead (``init_prior_share=1``: an exact ABC rejection
sample, equal weights), generation 1 had ESS 13 and generation 2 ESS 3, and pyabc's local
(k-nearest-neighbour) kernel did no better (ESS 8, then 2). The weights are exactly prior /
proposal density, and across the accepted particles the log density of the kernel mixture spans
about 11 nats (e^11), because the tolerance still accepts a region much wider than the kernel in
the parameters the figures do not pin down. Hence :mod:`calibration.replenishment`, an
ABC-SMC whose particles keep equal weights (Metropolis-Hastings moves at each tolerance), the
default ``method``; this module keeps the shared pieces (settings, prior, distance, the stage's
problem and result) and the pyabc sampler (``method="pyabc"``).

**Determinism.** pyabc's own parallel samplers (multicore, Dask, mapping) reseed numpy from the
operating system in every worker (``np.random.seed()`` without an argument) and, for the
evaluation-parallel ones, keep the first particles to be accepted, so their posterior differs
from run to run; :class:`pyabc.SingleCoreSampler` is deterministic only in one process.
:class:`OrderedSampler` replaces them: a generation has ``population`` slots; slot i seeds numpy
and ``random`` with the i-th number of ``SeedSequence([seed, stage, t])`` and proposes until one
particle is accepted; slots are mapped through the executor and put back in slot order. The
generation is a function of the seed, the stage and the history only, never of the executor,
the number of workers or the order results arrive in. Every generation is run by a fresh
``ABCSMC`` loaded from the SQL history (``ABCSMC.load``), so an uninterrupted run and a run
killed and resumed (``kill -9`` included: SQLite commits a generation whole) follow the same
code path and give the same posterior; the master's own numpy state is reseeded from the same
sequence before each generation, so no random state needs saving.

**Stopping** (checked between generations, from the history only, so deterministic): the
stage's ``generations`` are done; epsilon reached ``min_epsilon``; the acceptance rate fell
below ``min_acceptance``; or the next generation is expected (population / last acceptance rate)
to overrun the stage's evaluation budget. A generation that runs past what is left of the budget
is abandoned (not written) and the stage ends with the generation before.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import random
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pandas as pd
import pyabc
from tqdm import tqdm

from infra.atomic import atomic_write_json
from infra.execution import SerialExecutor
from model import ParameterError, Uncertainties

from .loss import FAILED, loss
from .objective import EXPLODED, Objective, SearchSpace
from .targets import last_day

#: The history file of a stage in the run folder.
DB_NAME = "abc-{stage}.db"
#: Its sidecar: the fingerprint checked on resume, and wall seconds per generation.
SIDECAR_NAME = "abc-{stage}.json"
MODEL_NAME = "telesim"


@dataclass(frozen=True)
class AbcSettings:
    """What determines a posterior (not where or how fast it is computed)."""

    population: int = 200  # particles per generation (the posterior's distinct sets)
    generations: int = 12  # ABC generations after generation 0, per stage, at most
    alpha: float = 0.5  # epsilon_t = this weighted quantile of generation t-1's distances
    min_epsilon: float = 0.0  # stop once epsilon is at or below this
    min_acceptance: float = 0.02  # stop once a generation's acceptance rate is below this
    seed: int = 0  # seeds every proposal (never the model: its seeds are the objective's)
    init_alpha: float = 0.5  # generation 0: the best this share of the proposals is accepted
    init_spread: float = 0.1  # generation 0: sd of the normals around the point, share of range
    init_prior_share: float = 0.1  # generation 0: share of proposals from the uniform prior
    kde_factor: float = 1.0  # bandwidth of the earlier posterior's KDE, times Scott's
    #: "replenishment": equal weights, MH moves (calibration/replenishment.py); "pyabc":
    #: importance-weighted ABC-SMC (this module; its weights collapse in our dimensions)
    method: str = "replenishment"
    #: replenishment's generation 0: "prior" (a rejection sample from the prior) or "point"
    #: (normals around the point estimate, init_spread, with init_prior_share from the prior;
    #: the moves then carry the population to the ABC posterior: ABC-MCMC from a good start)
    start: str = "prior"
    #: replenishment: the final tolerance (0: none). Once the alpha-quantile of the distances
    #: falls to it, epsilon is held there and every particle moves each generation (population
    #: ABC-MCMC at a fixed tolerance) until ``hold`` generations have run held.
    tolerance: float = 0.0
    hold: int = 5
    #: replenishment's start at the point: the earlier stages' parameters around the point like
    #: the others ("point"), or drawn from their prior, the earlier posterior's KDE ("prior"):
    #: a start with their spread already, which the moves would take many generations to widen
    init_inherited: str = "point"
    #: generation 0 around the point: per-parameter sds (share of the range) replacing
    #: ``init_spread`` for the parameters named, as ``((name, share), ...)``. Why: one share for
    #: every range is too wide for the parameters the figures pin and too narrow for those they
    #: leave free (a stage-B start measured both ways: docs/calibration.md)
    init_spreads: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        pairs = (
            self.init_spreads.items() if isinstance(self.init_spreads, dict) else self.init_spreads
        )
        pairs = tuple((str(n), float(v)) for n, v in pairs)
        object.__setattr__(self, "init_spreads", pairs)
        for name, share in pairs:
            if not (math.isfinite(share) and 0 < share <= 1):
                raise ValueError(f"init_spreads[{name!r}]: {share} must be in (0, 1]")
        if len({n for n, _ in pairs}) != len(pairs):
            raise ValueError("init_spreads: a parameter is named twice")
        if self.population < 2:
            raise ValueError(f"population: {self.population} must be at least 2")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha: {self.alpha} must be in (0, 1)")
        if not 0 < self.init_alpha <= 1:
            raise ValueError(f"init_alpha: {self.init_alpha} must be in (0, 1]")
        if not 0 <= self.init_prior_share <= 1 or self.init_spread <= 0:
            raise ValueError("init_prior_share must be in [0, 1] and init_spread positive")
        if self.method not in ("replenishment", "pyabc"):
            raise ValueError(f"method: {self.method!r} must be 'replenishment' or 'pyabc'")
        if self.min_epsilon < 0 or not 0 <= self.min_acceptance < 1:
            raise ValueError("min_epsilon must be >= 0 and min_acceptance in [0, 1)")
        if self.start not in ("prior", "point"):
            raise ValueError(f"start: {self.start!r} must be 'prior' or 'point'")
        if self.init_inherited not in ("point", "prior"):
            raise ValueError(f"init_inherited: {self.init_inherited!r} must be 'point' or 'prior'")
        if not (math.isfinite(self.tolerance) and self.tolerance >= 0) or self.hold < 1:
            raise ValueError(
                f"tolerance: {self.tolerance} must be a number >= 0 and hold: {self.hold} >= 1"
            )

    def to_dict(self) -> dict[str, Any]:
        """The settings; ``init_inherited`` only when not its default, so a run (and its
        fingerprint) from before the field existed still resumes."""
        d = asdict(self)
        if d["init_inherited"] == "point":
            del d["init_inherited"]
        if d["init_spreads"]:
            d["init_spreads"] = [[n, v] for n, v in self.init_spreads]
        else:
            del d["init_spreads"]
        return d

    def spreads(self, names, low: np.ndarray, high: np.ndarray) -> np.ndarray:
        """Generation 0's sds around the point for ``names`` (search coordinates):
        ``init_spreads`` where given, ``init_spread`` elsewhere, times each range."""
        given = dict(self.init_spreads)
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise ValueError(f"init_spreads: {', '.join(unknown)} not among the stage's parameters")
        share = np.array([given.get(n, self.init_spread) for n in names], dtype=float)
        return share * (np.asarray(high, dtype=float) - np.asarray(low, dtype=float))


# --------------------------------------------------------------------------------------------
# the model and the distance (picklable: they travel to the workers inside the particles' job)


def simulate(objective: Objective, x) -> dict[str, Any]:
    """The summary statistics of a parameter vector: the simulated quantities averaged over the
    objective's replicate seeds (``q``), and ``stopped``: 0 for a finished run, the share of
    weeks left unrun for a runaway one, -1 for a parameter set the model refuses."""
    try:
        sims = objective.replicates(np.asarray(x, dtype=float))
    except ParameterError:
        return {"q": np.full(len(objective.targets), np.nan), "stopped": -1.0}
    if isinstance(sims, float):
        return {"q": np.full(len(objective.targets), np.nan), "stopped": float(sims)}
    return {"q": np.asarray(sims, dtype=float).mean(axis=0), "stopped": 0.0}


@dataclass(frozen=True)
class SimulatedQuantities:
    """The pyabc model: a particle's parameters (search coordinates, by name) -> statistics."""

    objective: Objective

    def __call__(self, pars) -> dict[str, Any]:
        return simulate(self.objective, [pars[n] for n in self.objective.space.names])


@dataclass(frozen=True)
class LossDistance:
    """The pyabc distance: the calibration loss of the statistics (the observed figures are the
    targets themselves). Equal to :meth:`Objective.__call__` for the same vector."""

    targets: tuple

    def __call__(self, x, x_0=None) -> float:
        unrun = _unfinished(x)
        if unrun is not None:
            return unrun
        return loss(list(self.targets), np.asarray(x["q"], dtype=float))


def _unfinished(x) -> float | None:
    """The distance of a refused (FAILED) or runaway (EXPLODED, by the share of weeks left)
    run; None for a finished one."""
    stopped = float(x["stopped"])
    if stopped < 0:
        return FAILED
    if stopped > 0:
        return EXPLODED * (1.0 + stopped)
    return None


#: A gated distance beyond its gate: this plus the gate's loss (above every tolerance we use,
#: below a runaway run's EXPLODED, so a generation 0 ranks it after every particle within the gate).
GATED = 1e3


@dataclass(frozen=True)
class GatedDistance:
    """The loss on the figures outside ``gate``, for statistics whose loss on the ``gate``
    figures (target ids) is within ``gate_tolerance``; beyond it ``GATED`` plus that loss, so no
    tolerance accepts it.

    Why: sequential Bayes with the earlier stage's figures as a hard constraint instead of a
    KDE of its posterior as the prior. The ABC posterior of stage A is uniform on the region
    where the 2018-2019 loss is within its tolerance; a kernel density estimate of 340
    particles in 21 dimensions blurs that region (measured: 15 of 240 stage-B particles drawn
    through it were still inside it, docs/calibration.md). With a uniform prior on every
    parameter and this distance, the joint ABC posterior is that region intersected with the
    2020 one: p(a, b | D1, D2) with each window at its own tolerance, no figure counted twice."""

    targets: tuple
    gate: tuple[str, ...]
    gate_tolerance: float
    #: which of ``targets`` are in the gate, and the two lists (derived once, not per simulation)
    inside: np.ndarray = field(init=False, repr=False, compare=False)
    gated: list = field(init=False, repr=False, compare=False)
    scored: list = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        inside = np.array([t.id in self.gate for t in self.targets])
        object.__setattr__(self, "inside", inside)
        object.__setattr__(
            self, "gated", [t for t, g in zip(self.targets, inside, strict=True) if g]
        )
        object.__setattr__(
            self, "scored", [t for t, g in zip(self.targets, inside, strict=True) if not g]
        )

    def beyond(self, q_gate) -> float | None:
        """The distance of gate figures ``q_gate`` beyond the gate (``GATED`` plus their loss),
        None within it: the one decision of :meth:`__call__` and :meth:`screen`."""
        gated = loss(self.gated, q_gate)
        return None if gated <= self.gate_tolerance else GATED + float(gated)

    def __call__(self, x, x_0=None) -> float:
        unrun = _unfinished(x)
        if unrun is not None:
            return unrun
        q = np.asarray(x["q"], dtype=float)
        far = self.beyond(q[self.inside])
        return far if far is not None else loss(self.scored, q[~self.inside])

    def describe(self) -> dict[str, Any]:
        return {"gate": list(self.gate), "gate_tolerance": self.gate_tolerance}

    def screen(self, objective: Objective, x) -> dict[str, Any] | None:
        """The statistics of ``x`` from runs cut :data:`SCREEN_MARGIN_DAYS` after the gate's
        last day, if its gate figures already put it beyond the gate (the figures outside the
        gate NaN); None when the whole run is needed. Why: in stage B the 2018-2019 weeks cost
        about 5% of a run to September 2020 (measured: 0.8 s against 16.6 s), and most
        Metropolis-Hastings proposals the gated run refuses fail the gate. Exact: a week's acts
        never depend on the weeks after it, and the figures are read by a monotone cubic whose
        value inside a week depends only on the knots up to two weeks on, so the gate figures of
        the cut runs are those of the whole runs, bit for bit (``tests/calibration``); the
        distance of the result is the whole run's."""
        if tuple(objective.targets) != tuple(self.targets) or not self.gated:
            return None
        end = last_day(self.gated) + dt.timedelta(days=SCREEN_MARGIN_DAYS)
        if end >= dt.date.fromisoformat(objective.end):
            return None
        try:
            sims = objective.replicates(
                np.asarray(x, dtype=float), end=end.isoformat(), targets=self.gated
            )
        except ParameterError:
            return None  # the whole run says so
        if isinstance(sims, float):
            return None  # a runaway: the whole run measures how far it got
        q_gate = np.asarray(sims, dtype=float).mean(axis=0)
        if self.beyond(q_gate) is None:
            return None
        q = np.full(len(self.targets), np.nan)
        q[self.inside] = q_gate
        return {"q": q, "stopped": 0.0}


#: Days a screening run goes past the gate's last day: the monotone cubic that reads a figure
#: inside a week uses the knots up to two weeks on (see :meth:`GatedDistance.screen`).
SCREEN_MARGIN_DAYS = 14


def evaluate(job) -> tuple[dict[str, Any], float]:
    """One draw of a generation 0: ``(statistics, distance)`` (top level: picklable)."""
    objective, distance, x = job
    stats = simulate(objective, x)
    return stats, float(distance(stats))


# --------------------------------------------------------------------------------------------
# priors


# pyabc reports every generation at INFO level; this module reports what matters itself.
logging.getLogger("ABC").setLevel(logging.WARNING)


def weighted_cov(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    w = np.asarray(w, dtype=float) / np.sum(w)
    mean = w @ x
    d = x - mean
    return (d * w[:, None]).T @ d


def ess(w) -> float:
    """Effective sample size of importance weights, ``(sum w)^2 / sum w^2``."""
    w = np.asarray(w, dtype=float)
    return float(w.sum() ** 2 / np.sum(w**2)) if w.size else 0.0


class Prior(pyabc.DistributionBase):
    """Uniform on ``[low, high]`` (search coordinates) for every parameter, times a weighted
    Gaussian KDE of an earlier posterior over the ``kde_names`` (truncated to the box; its
    normalising constant over the box is left out: it cancels in the self-normalised weights).

    A ``pyabc.DistributionBase``: ``rvs`` (numpy's global generator, which the sampler seeds per
    slot) and ``pdf``; :meth:`sample_kde` draws with an explicit generator for generation 0.
    """

    def __init__(
        self,
        names,
        low,
        high,
        kde_names=(),
        kde_x: np.ndarray | None = None,
        kde_w: np.ndarray | None = None,
        kde_factor: float = 1.0,
    ):
        self.names = tuple(names)
        self.low = np.asarray(low, dtype=float)
        self.high = np.asarray(high, dtype=float)
        self.kde_names = tuple(kde_names)
        self.kde_idx = np.array([self.names.index(n) for n in self.kde_names], dtype=int)
        self.uniform_idx = np.array(
            [i for i, n in enumerate(self.names) if n not in self.kde_names], dtype=int
        )
        self.uniform_density = float(
            np.prod(1.0 / (self.high[self.uniform_idx] - self.low[self.uniform_idx]))
        )
        if self.kde_names:
            x = np.asarray(kde_x, dtype=float)
            w = np.asarray(kde_w, dtype=float)
            self.kde_x, self.kde_w = x, w / w.sum()
            k = len(self.kde_names)
            scott = ess(self.kde_w) ** (-1.0 / (k + 4))
            span = self.high[self.kde_idx] - self.low[self.kde_idx]
            cov = weighted_cov(x, self.kde_w) * (scott * kde_factor) ** 2
            cov += np.diag((1e-6 * span) ** 2)  # a collapsed parameter keeps a tiny width
            self.chol = np.linalg.cholesky(cov)
            self.chol_inv = np.linalg.inv(self.chol)
            self.log_norm = -0.5 * k * math.log(2 * math.pi) - float(
                np.sum(np.log(np.diag(self.chol)))
            )
            self.cum_w = np.cumsum(self.kde_w)
            self.cum_w[-1] = 1.0

    # pyabc's DistributionBase interface
    def get_parameter_names(self) -> list[str]:
        return sorted(self.names)

    def rvs(self, *args, **kwargs):
        v = np.empty(len(self.names))
        iu = self.uniform_idx
        v[iu] = self.low[iu] + np.random.random_sample(len(iu)) * (self.high[iu] - self.low[iu])
        if self.kde_names:
            v[self.kde_idx] = self._kde_draw(np.random.random_sample, np.random.standard_normal)
        return pyabc.Parameter({n: float(x) for n, x in zip(self.names, v, strict=True)})

    def pdf(self, x) -> float:
        lp = self.log_density(np.array([float(x[n]) for n in self.names]))
        return 0.0 if lp == -math.inf else self.uniform_density * float(np.exp(lp))

    # with explicit vectors and generators
    def log_density(self, v: np.ndarray) -> float:
        """Log density at a vector (search coordinates) up to the uniform part's constant;
        -inf outside the ranges."""
        if np.any(v < self.low) or np.any(v > self.high):
            return -math.inf
        if self.kde_names:
            return float(self.kde_logpdf(v[self.kde_idx][None, :])[0])
        return 0.0

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` draws, an ``(n, len(names))`` array."""
        x = np.empty((n, len(self.names)))
        iu = self.uniform_idx
        lo, hi = self.low[iu], self.high[iu]
        x[:, iu] = lo + rng.random((n, iu.size)) * (hi - lo)
        if self.kde_names:
            x[:, self.kde_idx] = self.sample_kde(rng, n)
        return x

    # the earlier posterior
    def _kde_draw(self, uniform, normal) -> np.ndarray:
        lo, hi = self.low[self.kde_idx], self.high[self.kde_idx]
        for _ in range(10_000):
            i = int(np.searchsorted(self.cum_w, uniform(), side="right"))
            y = self.kde_x[min(i, len(self.kde_w) - 1)] + self.chol @ normal(len(lo))
            if np.all(y >= lo) and np.all(y <= hi):
                return y
        raise RuntimeError("the earlier posterior's KDE lies outside the ranges")

    def sample_kde(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` draws of the KDE part (an ``(n, len(kde_names))`` array)."""
        return np.array(
            [self._kde_draw(rng.random, lambda k: rng.standard_normal(k)) for _ in range(n)]
        ).reshape(n, len(self.kde_names))

    def kde_logpdf(self, y: np.ndarray) -> np.ndarray:
        z = (y[:, None, :] - self.kde_x[None, :, :]) @ self.chol_inv.T  # (m, n, k)
        logk = -0.5 * np.sum(z**2, axis=2) + np.log(self.kde_w)[None, :]
        top = logk.max(axis=1, keepdims=True)
        return self.log_norm + top[:, 0] + np.log(np.exp(logk - top).sum(axis=1))


# --------------------------------------------------------------------------------------------
# the deterministic sampler


def slot_seeds(seed: int, stage: str, t: int, n: int) -> list[int]:
    """The seeds of generation ``t``'s ``n`` slots (and, as ``n + 1``-th, of the master)."""
    ss = np.random.SeedSequence([int(seed), zlib.crc32(stage.encode()), int(t) + 1])
    return [int(s) for s in ss.generate_state(n + 1, dtype=np.uint32)]


def _slot(job):
    """Propose until one particle is accepted (at most ``cap`` proposals): ``(particle or None,
    proposals)``. Top level, so any executor can ship it; the sampling function arrives pickled."""
    payload, seed, cap = job
    simulate_one = cloudpickle.loads(payload)
    np.random.seed(seed)
    random.seed(seed)
    n = 0
    while n < cap:
        particle = simulate_one()
        n += 1
        if particle.accepted:
            return particle, n
    return None, n


def ordered_map(
    executor,
    fn: Callable,
    items: list,
    desc: str = "",
    progress: bool = False,
    stop=None,
    each: Callable[[int, Any], None] | None = None,
) -> list | None:
    """``[fn(item) for item in items]`` through the executor, in item order, with a progress bar
    (``desc``; shown when ``progress``) advanced per item; ``stop(results so far)`` may abandon
    the map (returns None); ``each(index, result)`` is called as each item finishes (to save
    it)."""
    out: list[Any] = [None] * len(items)
    done: list[Any] = []
    bar = tqdm(total=len(items), desc=desc, disable=not progress, dynamic_ncols=True, leave=False)
    try:
        for i, result in executor.as_completed(fn, items):
            out[i] = result
            done.append(result)
            if each is not None:
                each(i, result)
            bar.update(1)
            if stop is not None and stop(done):
                return None
    finally:
        bar.close()
    return out


class OrderedSampler(pyabc.sampler.Sampler):
    """One slot per particle, seeded from ``(seed, stage, t, slot)``, mapped through an executor
    and put back in slot order (see the module docstring). ``eval_cap``: a generation that needs
    more proposals is abandoned (an empty sample marked not ok: pyabc then writes nothing)."""

    def __init__(self, executor, seed: int, stage: str, eval_cap: float, progress: bool):
        super().__init__()
        self.executor, self.seed, self.stage = executor, seed, stage
        self.eval_cap, self.progress = eval_cap, progress

    def sample_until_n_accepted(
        self, n, simulate_one, t, *, max_eval=np.inf, all_accepted=False, ana_vars=None
    ):
        cap = min(max_eval, self.eval_cap)
        payload = cloudpickle.dumps(simulate_one)
        seeds = slot_seeds(self.seed, self.stage, t, n)[:n]
        slot_cap = int(cap) if np.isfinite(cap) else 10**9
        jobs = [(payload, s, slot_cap) for s in seeds]
        results = ordered_map(
            self.executor,
            _slot,
            jobs,
            desc=f"ABC {self.stage} generation {t}",
            progress=self.progress,
            stop=lambda done: sum(r[1] for r in done) > cap or done[-1][0] is None,
        )
        sample = self._create_empty_sample()
        if results is None or any(r[0] is None for r in results):
            self.nr_evaluations_ = 0
            sample.ok = False
            return sample
        for particle, _ in results:
            sample.append(particle)
        self.nr_evaluations_ = int(sum(r[1] for r in results))
        return sample


# --------------------------------------------------------------------------------------------
# a stage


@dataclass
class Posterior:
    """A weighted sample of parameter vectors (search coordinates of ``space``), best first."""

    space: SearchSpace
    base: dict[str, Any]  # values of the uncertainties not in the space
    x: np.ndarray  # (n, d)
    weights: np.ndarray  # normalised
    loss: np.ndarray  # each particle's distance (training seeds)
    quantities: np.ndarray  # (n, targets) simulated quantities (training seeds, averaged)

    @property
    def names(self) -> tuple[str, ...]:
        return self.space.names

    def values(self, i: int) -> dict[str, Any]:
        """Every uncertainty of particle ``i`` (natural scale)."""
        return {**Uncertainties().to_dict(), **self.base, **self.space.values(self.x[i])}

    def frame(self) -> pd.DataFrame:
        """One row per particle: every Uncertainties field, then ``weight`` and ``loss``."""
        fields = list(Uncertainties().to_dict())
        rows = [
            {**self.values(i), "weight": float(self.weights[i]), "loss": float(self.loss[i])}
            for i in range(len(self.weights))
        ]
        return pd.DataFrame(rows, columns=[*fields, "weight", "loss"])

    @classmethod
    def from_frame(
        cls, frame: pd.DataFrame, names: list[str] | tuple[str, ...], base: dict[str, Any]
    ) -> Posterior:
        """The inverse of :meth:`frame` (a ``posterior.csv``), over the parameters ``names``,
        the other uncertainties at ``base``; no simulated quantities."""
        space = SearchSpace.from_specs(list(names))
        w = frame["weight"].to_numpy(float)
        return cls(
            space=space,
            base={k: v for k, v in base.items() if k not in space.names},
            x=np.array([space.coords(r) for r in frame[list(names)].to_dict("records")]),
            weights=w / w.sum(),
            loss=frame["loss"].to_numpy(float),
            quantities=np.zeros((len(frame), 0)),
        )

    def ess(self) -> float:
        return ess(self.weights)

    def digest(self) -> str:
        """A hash of the particles and weights (equal posteriors, equal digests)."""
        h = hashlib.sha256()
        h.update(json.dumps(list(self.names)).encode())
        h.update(np.ascontiguousarray(self.x, dtype=float).tobytes())
        h.update(np.ascontiguousarray(self.weights, dtype=float).tobytes())
        return h.hexdigest()


@dataclass
class StageResult:
    stage: str
    posterior: Posterior
    trace: list[dict[str, Any]]  # one row per generation
    evaluations: int
    stop_reason: str
    finished: bool = True  # False when stopped on purpose (``stop_after``)
    diagnostics: dict[str, Any] = field(default_factory=dict)
    method: str = "pyabc"  # the sampler that produced it (AbcSettings.method)


@dataclass
class StageProblem:
    """What one stage infers."""

    name: str
    objective: Objective  # over the stage's whole space (earlier stages' parameters too)
    center: np.ndarray  # generation 0: the point estimate (search coordinates of the space)
    max_evaluations: int
    previous: Posterior | None = None  # the earlier stages' posterior (their prior here)
    #: the ABC distance (default: the loss of every target, :class:`LossDistance`)
    distance: Any = None
    #: generation 0 around the point draws the parameters this sample has from its rows
    #: (resampled by weight) instead: a start inside an earlier posterior without making it
    #: the prior (replenishment, ``start="point"``)
    start_rows: Posterior | None = None

    def make_distance(self):
        return self.distance if self.distance is not None else LossDistance(self.targets)

    @property
    def space(self) -> SearchSpace:
        return self.objective.space

    @property
    def targets(self) -> tuple:
        return self.objective.targets

    def inherited(self) -> tuple[str, ...]:
        if self.previous is None:
            return ()
        return tuple(n for n in self.space.names if n in self.previous.names)

    def prior(self, settings: AbcSettings) -> Prior:
        names = self.inherited()
        kde_x = kde_w = None
        if names:
            cols = [self.previous.names.index(n) for n in names]
            kde_x, kde_w = self.previous.x[:, cols], self.previous.weights
        return Prior(
            self.space.names,
            self.space.low,
            self.space.high,
            names,
            kde_x,
            kde_w,
            settings.kde_factor,
        )

    def fingerprint(self, settings: AbcSettings) -> dict[str, Any]:
        return json.loads(
            json.dumps(
                {
                    "stage": self.name,
                    "abc": settings.to_dict(),
                    "space": asdict(self.space),
                    "base": self.objective.base,
                    "seeds": list(self.objective.seeds),
                    "scale": self.objective.scale,
                    "targets": [[t.id, t.value, t.bound] for t in self.targets],
                    "center": [float(v) for v in self.center],
                    "max_evaluations": self.max_evaluations,
                    "previous": None if self.previous is None else self.previous.digest(),
                    **({"distance": self.distance.describe()} if self.distance is not None else {}),
                    **(
                        {"start_rows": self.start_rows.digest()}
                        if self.start_rows is not None
                        else {}
                    ),
                },
                default=str,
            )
        )


def mixture_sample(
    rng: np.random.Generator, n: int, center, sd, low, high, prior_share: float
) -> np.ndarray:
    from scipy.stats import truncnorm

    center, sd = np.asarray(center, float), np.asarray(sd, float)
    low, high = np.asarray(low, float), np.asarray(high, float)
    from_prior = rng.random(n) < prior_share
    uni = low + rng.random((n, low.size)) * (high - low)
    a, b = (low - center) / sd, (high - center) / sd
    tn = truncnorm.rvs(a, b, loc=center, scale=sd, size=(n, low.size), random_state=rng)
    return np.where(from_prior[:, None], uni, tn)


class _Stage:
    """A stage in progress: the history file, its sidecar, and the generations."""

    def __init__(
        self,
        problem: StageProblem,
        settings: AbcSettings,
        out_dir: Path,
        executor,
        progress: bool,
        log,
    ):
        self.problem, self.settings = problem, settings
        self.executor = executor or SerialExecutor()
        self.progress, self.log = progress, log
        self.db_path = Path(out_dir) / DB_NAME.format(stage=problem.name)
        self.sidecar = Path(out_dir) / SIDECAR_NAME.format(stage=problem.name)
        self.db = f"sqlite:///{self.db_path}"
        self.prior = problem.prior(settings)
        self.wall: dict[str, float] = {}

    # --- files ------------------------------------------------------------------------------

    def start(self, resume: bool) -> None:
        fingerprint = self.problem.fingerprint(self.settings)
        if resume and self.db_path.is_file() and self.sidecar.is_file():
            state = json.loads(self.sidecar.read_text())
            if state.get("fingerprint") != fingerprint:
                raise ValueError(
                    f"--resume: {self.db_path} belongs to a run with other settings, targets or "
                    "starting point; rerun without --resume or with the same settings"
                )
            self.wall = {str(k): float(v) for k, v in state.get("wall_seconds", {}).items()}
            return
        for path in (self.db_path, self.sidecar):
            path.unlink(missing_ok=True)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self._save(fingerprint)

    def _save(self, fingerprint=None) -> None:
        if fingerprint is None:
            fingerprint = json.loads(self.sidecar.read_text())["fingerprint"]
        atomic_write_json(self.sidecar, {"fingerprint": fingerprint, "wall_seconds": self.wall})

    def abc(self, eval_cap: float = np.inf):
        """A fresh ``ABCSMC`` for this stage (the sampler bound to this executor)."""
        s = self.settings
        sampler = OrderedSampler(self.executor, s.seed, self.problem.name, eval_cap, self.progress)
        return pyabc.ABCSMC(
            SimulatedQuantities(self.problem.objective),
            self.prior,
            self.problem.make_distance(),
            population_size=s.population,
            eps=pyabc.QuantileEpsilon(initial_epsilon="from_sample", alpha=s.alpha),
            sampler=sampler,
        )

    def history(self):
        return pyabc.History(self.db, _id=1)

    def max_t(self) -> int:
        """The last generation in the history (-1: none yet)."""
        if not self.db_path.is_file():
            return -1
        m = self.history().max_t
        return -1 if m is None else int(m)

    # --- generations ------------------------------------------------------------------------

    def generation0(self) -> None:
        """The seeded first generation (see the module docstring), written to the history."""
        p, s = self.problem, self.settings
        t0 = time.perf_counter()
        self.db_path.unlink(missing_ok=True)  # a history killed before its generation 0
        abc = self.abc()
        history = abc.new(self.db, {"observed": np.array([t.value for t in p.targets])})
        rng = np.random.default_rng(np.random.SeedSequence(slot_seeds(s.seed, p.name, 0, 0)))
        m = math.ceil(s.population / s.init_alpha)
        space = p.space
        low, high = np.array(space.low), np.array(space.high)
        x = np.empty((m, len(space.names)))
        new = np.array([i for i, n in enumerate(space.names) if n not in p.inherited()], int)
        inherited = self.prior.kde_idx
        if inherited.size:
            x[:, inherited] = self.prior.sample_kde(rng, m)
        sd = s.spreads(list(space.names), low, high)[new]
        args = (p.center[new], sd, low[new], high[new], s.init_prior_share)
        x[:, new] = mixture_sample(rng, m, *args)
        distance = p.make_distance()
        jobs = [(p.objective, distance, row) for row in x]
        results = ordered_map(
            self.executor, evaluate, jobs, f"ABC {p.name} generation 0", self.progress
        )
        d = np.array([r[1] for r in results])
        keep = np.lexsort((np.arange(m), d))[: s.population]
        particles = [
            pyabc.Particle(
                m=0,
                parameter=pyabc.Parameter(
                    {n: float(v) for n, v in zip(space.names, x[i], strict=True)}
                ),
                weight=1.0 / s.population,  # parents only: see the docstring
                sum_stat=results[i][0],
                distance=float(d[i]),
                accepted=True,
            )
            for i in keep
        ]
        history.append_population(
            t=0,
            current_epsilon=float(d[keep[-1]]),
            population=pyabc.Population(particles),
            nr_simulations=m,
            model_names=[model.name for model in abc.models],
        )
        history.done()
        self.wall["0"] = time.perf_counter() - t0
        self._save()

    def generation(self, t: int, eval_cap: float) -> bool:
        """Generation ``t`` by pyabc from the history; False if abandoned (budget)."""
        s = self.settings
        t0 = time.perf_counter()
        np.random.seed(slot_seeds(s.seed, self.problem.name, t, s.population)[-1])
        abc = self.abc(eval_cap)
        abc.load(self.db, 1)
        abc.run(max_nr_populations=1)
        if self.max_t() < t:
            return False
        self.wall[str(t)] = time.perf_counter() - t0
        self._save()
        return True

    # --- reading the history ----------------------------------------------------------------

    def trace(self) -> list[dict[str, Any]]:
        h = self.history()
        pops = h.get_all_populations()
        pops = pops[pops.t >= 0].sort_values("t")
        rows = []
        prev = None
        for r in pops.itertuples():
            t = int(r.t)
            df, w = h.get_distribution(m=0, t=t)
            x = df[list(self.problem.space.names)].to_numpy(dtype=float)
            w = np.asarray(w, dtype=float) / np.sum(w)
            mean = w @ x
            sd = np.sqrt(np.maximum(np.diag(weighted_cov(x, w)), 0.0))
            dist = h.get_weighted_distances(t=t)
            row = {
                "generation": t,
                "epsilon": float(r.epsilon),
                "evaluations": int(r.samples),
                "acceptance_rate": self.settings.population / int(r.samples),
                "ess": ess(w),
                "median_distance": float(np.median(dist["distance"])),
                "best_distance": float(np.min(dist["distance"])),
                "wall_seconds": self.wall.get(str(t)),
                "max_mean_shift_sd": (
                    float(np.max(np.abs(mean - prev[0]) / np.maximum(prev[1], 1e-12)))
                    if prev is not None
                    else None
                ),
            }
            rows.append(row)
            prev = (mean, sd)
        return rows

    def posterior(self) -> Posterior:
        h = self.history()
        pop = h.get_population(t=h.max_t)
        names = self.problem.space.names
        parts = list(pop.particles)
        x = np.array([[float(p.parameter[n]) for n in names] for p in parts])
        w = np.array([float(p.weight) for p in parts])
        d = np.array([float(p.distance) for p in parts])
        q = np.array([np.asarray(p.sum_stat["q"], dtype=float) for p in parts])
        order = np.lexsort(tuple(x[:, j] for j in reversed(range(x.shape[1]))) + (d,))
        base = dict(self.problem.objective.base)
        return Posterior(self.problem.space, base, x[order], w[order] / w.sum(), d[order], q[order])


def stop_reason(
    trace, settings: AbcSettings, max_evaluations: int, next_evaluations: float | None
) -> str | None:
    """Why no further generation should run (None: run the next one), for either sampler:
    ``next_evaluations`` is what the sampler expects the next generation to cost (None: run it
    whatever the budget)."""
    last = trace[-1]
    used = sum(r["evaluations"] for r in trace)
    if last["generation"] >= settings.generations:
        return f"generations ({settings.generations})"
    if last["epsilon"] <= settings.min_epsilon:
        return f"epsilon {last['epsilon']:.4g} <= min_epsilon {settings.min_epsilon:g}"
    if last["generation"] > 0 and last["acceptance_rate"] < settings.min_acceptance:
        return (
            f"acceptance rate {last['acceptance_rate']:.3g} < min_acceptance "
            f"{settings.min_acceptance:g}"
        )
    if next_evaluations is not None and used + next_evaluations > max_evaluations:
        return (
            f"evaluation budget: {used} used, the next generation would need about "
            f"{next_evaluations:.0f} of the {max_evaluations - used} left"
        )
    return None


def _stop_reason(trace, settings: AbcSettings, max_evaluations: int) -> str | None:
    """:func:`stop_reason` for pyabc: a generation costs population / acceptance rate; generation
    1 always runs (generation 0 is parents only)."""
    last = trace[-1]
    expected = settings.population / last["acceptance_rate"] if last["generation"] > 0 else None
    return stop_reason(trace, settings, max_evaluations, expected)


def diagnostics(trace: list[dict[str, Any]], stop_reason: str) -> dict[str, Any]:
    """Convergence figures of a stage: the tolerance's last relative decrease, the largest move
    of a posterior mean over the last generation (in posterior sds), the final ESS."""
    last = trace[-1]
    eps_ratio = last["epsilon"] / trace[-2]["epsilon"] if len(trace) > 1 else None
    shift = last.get("max_mean_shift_sd")
    stable = bool(eps_ratio is not None and eps_ratio >= 0.9 and shift is not None and shift <= 0.2)
    return {
        "generations": last["generation"],
        "final_epsilon": last["epsilon"],
        "epsilon_ratio_last": eps_ratio,
        "max_mean_shift_sd_last": shift,
        "final_ess": last["ess"],
        "final_acceptance_rate": last["acceptance_rate"],
        "stop_reason": stop_reason,
        # generation 0 is a set of parents with equal weights, not a posterior (see above)
        "posterior_is_proposal": last["generation"] == 0,
        "stable": stable,
        "stable_rule": "the last generation lowered epsilon by less than 10% and moved no "
        "posterior mean by more than 0.2 posterior sd",
    }


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
    """Infer one stage (see the module docstring); the history lives in ``out_dir``.

    ``resume`` continues from the stage's history (which must match the settings); without it an
    existing history is replaced. ``stop_after`` stops after that many generations in this call
    (tests simulate a kill with it); the result then has ``finished=False``.
    """
    if settings.method != "pyabc":
        raise ValueError(
            f"method: {settings.method!r} is run by calibration.replenishment.run_stage; this "
            "function runs method='pyabc'"
        )
    if problem.start_rows is not None:
        raise ValueError(
            "start_rows: pyabc's generation 0 cannot start from a posterior's rows; use "
            "method='replenishment' with start='point', or leave start_rows unset"
        )
    stage = _Stage(problem, settings, out_dir, executor, progress, log)
    stage.start(resume)
    done_here = 0
    if stage.max_t() < 0:
        log(f"ABC {problem.name}: generation 0 (seeded at the point estimate)")
        stage.generation0()
        done_here += 1
    trace = stage.trace()
    reason = None
    while True:
        reason = _stop_reason(trace, settings, problem.max_evaluations)
        if reason is not None:
            break
        if stop_after is not None and done_here >= stop_after:
            return StageResult(
                problem.name,
                stage.posterior(),
                trace,
                sum(r["evaluations"] for r in trace),
                "stopped on purpose",
                finished=False,
            )
        t = trace[-1]["generation"] + 1
        left = problem.max_evaluations - sum(r["evaluations"] for r in trace)
        if not stage.generation(t, eval_cap=left):
            reason = f"generation {t} abandoned: it needed more than the {left} evaluations left"
            break
        done_here += 1
        trace = stage.trace()
        r = trace[-1]
        log(
            f"ABC {problem.name} generation {t}: epsilon {r['epsilon']:.4g}, acceptance "
            f"{r['acceptance_rate']:.3f}, ESS {r['ess']:.0f}, {r['evaluations']} evaluations "
            f"({sum(x['evaluations'] for x in trace)} in the stage)"
        )
    trace = stage.trace()
    log(f"ABC {problem.name}: stopped ({reason})")
    return StageResult(
        problem.name,
        stage.posterior(),
        trace,
        sum(r["evaluations"] for r in trace),
        reason,
        diagnostics=diagnostics(trace, reason),
    )
