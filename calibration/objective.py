"""The search space and the objective: parameter vector -> replicated runs -> loss.

The objective is a picklable top-level callable (:class:`Objective`), so it can be shipped to
worker processes or a Dask cluster. It runs the model once per *fixed* replicate seed (common
random numbers: every candidate meets the same doctors, patients and random draws), averages the
simulated quantities over the replicates, and scores the average. The seed is never searched.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import numpy as np

from model import ParameterError, Uncertainties
from model.calendar import n_weeks_until, parse_end
from model.inputs import load_inputs
from model.model import TeleModel
from model.params import Levers
from model.population import build_population
from model.simulate import frames as model_frames

from .loss import FAILED, loss
from .quantities import quantities
from .targets import Target, last_day

#: Parameters searched on a log10 scale: their ranges span orders of magnitude and the data
#: speak about ratios (a Bass ceiling of 1% vs 2% matters as much as 10% vs 20%).
LOG_SCALE = ("external_rate_urban", "open_share_urban", "repeat_odds")
#: Replicate seeds of the calibration objective (fixed: common random numbers across candidates).
TRAINING_SEED_BASE = 1000
#: A run is abandoned once its cumulative acts exceed a cap (last day, cap): five times the
#: observed 7,939 by 17 Mar 2019 and the "more than 60,000" of the first year; 2 million by the end
#: of February 2020 (no figure: about five times a first year's level over the next six months);
#: then about five times what the 2020 figures imply (4.5 million in April 2020 alone, about 13
#: million by the end of September). Such a candidate is hopeless (a cumulative error of log 5 is
#: 16 tolerances), and a runaway run's memory grows with the persons it reaches.
ACT_CAPS = (
    ("2019-03-17", 40_000),
    ("2019-09-15", 300_000),
    ("2020-02-29", 2_000_000),
    ("2030-12-31", 65_000_000),
)
#: The levers of every calibration run: the history as it happened. Before March 2020 it is the
#: baseline (no COVID event is dated earlier), so the 2018-2019 figures see the same model.
HISTORY = Levers(covid=True)
#: Loss of an abandoned run: above any finished run's, higher the earlier it blew up.
EXPLODED = 1e4
#: Seeds used to report the fit of the chosen set: different from the training seeds, so the
#: fit table shows how the set does on runs it was not tuned on.
REPORT_SEED_BASE = 5000


def training_seeds(k: int) -> list[int]:
    """The ``k`` fixed replicate seeds of the objective."""
    return [TRAINING_SEED_BASE + i for i in range(k)]


def report_seeds(k: int) -> list[int]:
    return [REPORT_SEED_BASE + i for i in range(k)]


@dataclass(frozen=True)
class SearchSpace:
    """The calibrated uncertainties, their bounds and the scale they are searched on."""

    names: tuple[str, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    log: tuple[bool, ...]

    @classmethod
    def from_specs(
        cls, names: list[str] | None = None, narrow: dict[str, tuple[float, float]] | None = None
    ) -> SearchSpace:
        """The fields marked ``calibrate`` (or ``names``), with their allowed ranges.

        ``narrow`` may tighten a range (every use must come with a written reason).
        """
        specs = {s["name"]: s for s in Uncertainties.specs()}
        if names is None:
            names = [n for n, s in specs.items() if s["calibrate"]]
        unknown = sorted(set(names) - set(specs))
        if unknown:
            raise ValueError(f"unknown uncertainties {unknown}; allowed: {sorted(specs)}")
        narrow = narrow or {}
        lows, highs, logs = [], [], []
        for n in names:
            lo, hi = narrow.get(n, (specs[n]["low"], specs[n]["high"]))
            lo, hi = float(lo), float(hi)
            if not specs[n]["low"] <= lo < hi <= specs[n]["high"]:
                raise ValueError(f"{n}: range [{lo}, {hi}] is not inside the allowed range")
            use_log = n in LOG_SCALE and lo > 0
            lows.append(math.log10(lo) if use_log else lo)
            highs.append(math.log10(hi) if use_log else hi)
            logs.append(use_log)
        return cls(tuple(names), tuple(lows), tuple(highs), tuple(logs))

    @property
    def bounds(self) -> list[tuple[float, float]]:
        """Bounds in search coordinates (log10 for the log-scale parameters)."""
        return list(zip(self.low, self.high, strict=True))

    def values(self, x) -> dict[str, float]:
        """Parameter values of a search vector (clipped into the allowed range)."""
        out = {}
        for n, v, lo, hi, lg in zip(self.names, x, self.low, self.high, self.log, strict=True):
            v = float(np.clip(v, lo, hi))
            out[n] = 10.0**v if lg else v
        return out

    def coords(self, values: dict[str, float]) -> np.ndarray:
        """Search vector of parameter values (inverse of :meth:`values`)."""
        return np.array(
            [
                math.log10(values[n]) if lg else float(values[n])
                for n, lg in zip(self.names, self.log, strict=True)
            ]
        )


@dataclass(frozen=True)
class Objective:
    """``Objective(...)(x) -> loss``: picklable, deterministic, independent of where it runs."""

    space: SearchSpace
    targets: tuple[Target, ...]
    seeds: tuple[int, ...]
    scale: int
    base: dict = field(default_factory=dict)  # values of the fields not searched

    @property
    def end(self) -> str:
        """Simulate only as far as the targets go (to 15 Sep 2019 for the full set)."""
        return last_day(list(self.targets)).isoformat()

    def uncertainties(self, x) -> Uncertainties:
        return Uncertainties.from_dict({**self.base, **self.space.values(x)})

    def replicates(self, x, seeds=None, end: str | None = None, targets=None) -> np.ndarray | float:
        """Simulated target values, one row per replicate seed; or, if a run blew past
        :data:`MAX_ACTS`, the share of its weeks left unrun (in (0, 1]). ``end`` and ``targets``
        (default: the objective's) run shorter and read fewer figures: a screen on the first
        figures before the whole run (:meth:`calibration.inference.GatedDistance.screen`)."""
        unc = self.uncertainties(x)
        rows = []
        for seed in self.seeds if seeds is None else seeds:
            out = guarded_run(unc, int(seed), self.end if end is None else end, self.scale)
            if isinstance(out, float):
                return out
            rows.append(quantities(out, list(self.targets if targets is None else targets)))
        return np.array(rows)

    def __call__(self, x) -> float:
        try:
            sims = self.replicates(x)
        except ParameterError:
            return FAILED
        return self.score(sims)

    def score(self, sims: np.ndarray | float) -> float:
        """The loss of :meth:`replicates`' result: the replicates' mean against the targets, or
        the penalty of a run that blew past the caps (larger the more of it was left unrun)."""
        if isinstance(sims, float):
            return EXPLODED * (1.0 + sims)
        return loss(list(self.targets), sims.mean(axis=0))


#: Looser caps for report runs (the fit table and out-of-sample predictions): 25 and 25 times the
#: observed counts. A report run past them is recorded as stopped (NaN), not simulated on: runs
#: with millions of acts take gigabytes of memory.
REPORT_CAPS = (
    ("2019-03-17", 200_000),
    ("2019-09-15", 1_500_000),
    ("2020-02-29", 10_000_000),
    ("2030-12-31", 300_000_000),
)


def _cap(week: int, caps=ACT_CAPS) -> int:
    """The cap on the acts of weeks 0..``week``: that of the first cap date not before the week's
    last day."""
    for last, cap in caps:
        if week < n_weeks_until(dt.date.fromisoformat(last)):
            return cap
    return caps[-1][1]


def guarded_run(unc: Uncertainties, seed: int, end: str, scale: int, caps=ACT_CAPS):
    """``simulate(unc, levers=HISTORY, seed=seed, end=end, scale=scale, detail=True)``, stepped
    week by week and abandoned once the acts so far exceed :data:`ACT_CAPS`.

    Returns the frames, or the share of weeks left unrun when abandoned.
    """
    inputs = load_inputs()
    population = build_population(inputs, scale, seed)
    m = TeleModel(inputs, population, unc, HISTORY, seed, parse_end(end))
    total = 0
    while m.week < m.n_weeks:
        m.step()
        total += int(m.out_acts_type[m.week - 1].sum())
        if total > _cap(m.week - 1, caps):
            return (m.n_weeks - m.week) / m.n_weeks + 1e-9
    return model_frames(m)
