"""The what-if model behind the page: settings in, one run and its summaries out (no UI here).

SolaraViz is built around a ``mesa.Model`` that is stepped and redrawn; the page draws more than
:class:`~model.model.TeleModel`'s DataCollector holds (regions, the baseline beside the run), and a
policy user wants the whole 2018-2021 horizon at once. So the page's model is
:class:`WhatIfModel`, a small ``mesa.Model`` holding one ``TeleModel`` built from the page's
:class:`Settings` (levers, seed, scenario); :class:`RunView` holds what the charts draw, and
:func:`baseline_view` the same for the *baseline* (levers at their defaults, same seed and
uncertainties), so the effect of a setting is read off directly.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import time
from typing import Any

import mesa
import pandas as pd

from calibration.targets import annual_targets, load_observed
from experiments.outcomes import annual_totals
from experiments.scenarios import SCENARIO_DIR, load_scenario
from model import DEFAULT_SCALE, Levers, Uncertainties, best_uncertainties
from model.calendar import parse_end
from model.inputs import DOCTOR_TYPES, load_inputs
from model.model import TeleModel
from model.population import build_population
from model.simulate import frames

#: The page always runs to the end of 2021 (the horizon of the targets).
END = dt.date(2021, 12, 31)
YEARS = (2019, 2020, 2021)
BASELINE = "baseline"


# --------------------------------------------------------------------------------------------
# settings and scenarios


def lever_specs() -> list[dict[str, Any]]:
    """The levers as :meth:`Levers.specs` gives them (name, default, low, high, doc, type)."""
    return Levers.specs()


def default_lever_values() -> dict[str, Any]:
    return {s["name"]: s["default"] for s in lever_specs()}


def lever_values(levers: Levers) -> dict[str, Any]:
    return {s["name"]: getattr(levers, s["name"]) for s in lever_specs()}


@dataclasses.dataclass(frozen=True)
class Settings:
    """What the page runs: a scenario's levers (possibly edited), the seed and the scale."""

    levers: dict[str, Any] = dataclasses.field(default_factory=default_lever_values)
    seed: int = 1
    scenario: str = BASELINE
    uncertainty_overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
    description: str = "the rules and platform dates as they were, no COVID"
    edited: bool = False
    scale: int = DEFAULT_SCALE

    def to_levers(self) -> Levers:
        """The validated levers (raises :class:`ParameterError` naming a bad field)."""
        return Levers(**self.levers)

    def label(self) -> str:
        name = self.scenario + (" (edited)" if self.edited else "")
        return f"scenario {name}, seed {self.seed}"


def scenario_names() -> list[str]:
    """``baseline`` then the scenario files of ``experiments/scenarios/``, by name."""
    names = [BASELINE]
    if SCENARIO_DIR.is_dir():
        names += sorted(p.stem for p in SCENARIO_DIR.glob("*.toml") if p.stem != BASELINE)
    return names


def load_scenario_settings(name: str, seed: int) -> Settings:
    """Settings from a scenario name (levers, uncertainty overrides, description).

    Raises :class:`experiments.scenarios.ScenarioError` (a ``ValueError``) naming the file and
    field of a malformed scenario.
    """
    scenario = load_scenario(name)
    return Settings(
        levers=lever_values(scenario.levers),
        seed=seed,
        scenario=name,
        uncertainty_overrides=dict(scenario.uncertainty_overrides),
        description=scenario.description,
    )


@functools.lru_cache(maxsize=16)
def _uncertainties(overrides_key: tuple) -> tuple[Uncertainties, str]:
    uncertainties, source = best_uncertainties()
    overrides = dict(overrides_key)
    if overrides:
        uncertainties = uncertainties.replace(**overrides)
        source += f"; scenario overrides {sorted(overrides)}"
    return uncertainties, source


def uncertainties_for(settings: Settings) -> tuple[Uncertainties, str]:
    """The project's best uncertainties with the scenario's overrides, and their source."""
    return _uncertainties(tuple(sorted(settings.uncertainty_overrides.items())))


# --------------------------------------------------------------------------------------------
# the model SolaraViz steps


class WhatIfModel(mesa.Model):
    """One telesim run for the page's settings, as a ``mesa.Model`` SolaraViz can step.

    Each :meth:`step` is one week of the wrapped :class:`TeleModel` (``self.tele``);
    :meth:`run_to_end` runs the remaining weeks to 31 Dec 2021.

    Args:
        settings: a :class:`Settings`, or anything with a ``.value`` holding one (the page passes
            its reactive settings, so SolaraViz's *Reset* picks up the current controls).
        run: run the whole horizon now.
    """

    def __init__(self, settings: Any = None, run: bool = False):
        s = getattr(settings, "value", settings)
        s = s if isinstance(s, Settings) else Settings()
        super().__init__(rng=s.seed)
        self.settings = s
        self.levers = s.to_levers()
        self.uncertainties, self.uncertainties_source = uncertainties_for(s)
        inputs = load_inputs()
        population = build_population(inputs, s.scale, s.seed)
        self.tele = TeleModel(
            inputs, population, self.uncertainties, self.levers, s.seed, parse_end(END)
        )
        self.running = True
        self.run_seconds: float | None = None
        #: what the page says about how long the last "Run to end-2021" took
        self.timing_note = ""
        self._views: dict[int, RunView] = {}
        if run:
            self.run_to_end()

    def step(self) -> None:
        """Advance one week (nothing once the horizon is reached)."""
        if self.tele.week < self.tele.n_weeks:
            self.tele.step()
        self.running = self.tele.week < self.tele.n_weeks

    def run_to_end(self) -> WhatIfModel:
        t0 = time.perf_counter()
        while self.running:
            self.step()
        self.run_seconds = time.perf_counter() - t0
        return self

    @property
    def weeks_done(self) -> int:
        return int(self.tele.week)

    @property
    def finished(self) -> bool:
        return self.tele.week >= self.tele.n_weeks

    def view(self) -> RunView:
        """The summaries the charts draw, for the weeks simulated so far (memoised per week)."""
        week = self.weeks_done
        if week not in self._views:
            self._views = {week: RunView.from_model(self)}
            s = self.settings
            if self.finished and s.levers == default_lever_values() and not s.uncertainty_overrides:
                _remember_baseline(s, self._views[week])  # a baseline run: no need to rerun it
        return self._views[week]


# --------------------------------------------------------------------------------------------
# what the charts draw


@dataclasses.dataclass(frozen=True, eq=False)
class RunView:
    """The aggregates of a (possibly partial) run that the page shows."""

    weekly: pd.DataFrame
    region_weekly: pd.DataFrame  # one row per week, one column per region (acts)

    @classmethod
    def from_model(cls, m: WhatIfModel) -> RunView:
        tables = frames(m.tele)
        weeks = m.weeks_done
        weekly = tables["weekly"].iloc[:weeks].reset_index(drop=True)
        reg = tables["by_region"]
        region_weekly = reg.pivot(index="week_start", columns="region", values="acts")
        region_weekly = region_weekly[list(dict.fromkeys(reg["region"]))].iloc[:weeks]
        return cls(weekly, region_weekly.astype(float))

    def upto(self, weeks: int) -> RunView:
        """The same run cut after its first ``weeks`` weeks (to compare like with like)."""
        if weeks >= self.weeks:
            return self
        return RunView(self.weekly.iloc[:weeks], self.region_weekly.iloc[:weeks])

    @property
    def weeks(self) -> int:
        return len(self.weekly)

    @functools.cached_property
    def last_day(self) -> dt.date | None:
        if not self.weeks:
            return None
        last = pd.Timestamp(self.weekly["week_start"].iloc[-1]) + pd.Timedelta(days=6)
        return min(END, last.date())

    @functools.cached_property
    def region_totals(self) -> pd.Series:
        return self.region_weekly.sum(axis=0)

    @functools.cached_property
    def type_totals(self) -> pd.Series:
        return pd.Series(
            {t: float(self.weekly[f"acts_{t}"].sum()) for t in DOCTOR_TYPES}, dtype=float
        )

    @functools.cached_property
    def annual(self) -> dict[int, float]:
        return annual_totals(self.weekly, self.last_day) if self.weeks else {}


_baseline_cache: dict[tuple, RunView] = {}


def baseline_view(settings: Settings) -> RunView:
    """The baseline (levers at their defaults, no uncertainty overrides) for the same seed."""
    key = (settings.seed, settings.scale)
    if key not in _baseline_cache:
        WhatIfModel(Settings(seed=settings.seed, scale=settings.scale), run=True).view()
    return _baseline_cache[key]


def _remember_baseline(settings: Settings, view: RunView) -> None:
    while len(_baseline_cache) >= 8:
        _baseline_cache.pop(next(iter(_baseline_cache)))
    _baseline_cache[(settings.seed, settings.scale)] = view


@functools.lru_cache(maxsize=1)
def observed() -> pd.DataFrame:
    """The national observed figures (read once)."""
    return load_observed()


@functools.lru_cache(maxsize=1)
def targets() -> dict[int, float]:
    """The annual targets (read once)."""
    return annual_targets()
