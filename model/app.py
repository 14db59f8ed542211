"""The interactive what-if page: a Mesa SolaraViz page over the téléconsultation model.

Serve it with ``telesim dashboard`` (or ``solara run model/app.py``) and open the printed address.

Design. SolaraViz is built around a ``mesa.Model`` that is stepped and redrawn; telesim's
:class:`~model.model.TeleModel` keeps its weekly results in arrays rather than in a DataCollector,
and a policy user wants the whole 2018-2021 horizon at once. So the page is a SolaraViz page whose
model is :class:`WhatIfModel`, a small ``mesa.Model`` holding one ``TeleModel`` built from the
page's settings (levers, seed, scenario):

* the sidebar holds the what-if settings — a scenario selector (``experiments/scenarios/*.toml``),
  the seed and one control per lever (same names and ranges as :meth:`model.Levers.specs`) —
  followed by SolaraViz's own controls: *Reset* builds a new model from the current settings at
  week 0, *Step* advances it (``render_interval`` weeks a click), *Play* animates it;
* **Run to end-2021** builds and runs the whole horizon in one go (in a worker thread) and then
  replaces SolaraViz's model, which redraws the page;
* the charts are custom Solara components drawing matplotlib figures from the model's arrays
  (:func:`model.simulate.frames`), each beside the *baseline* (levers at their defaults, same
  seed and uncertainties), so the effect of the setting is read off directly.

SolaraViz renders its main component grid only when given components; ours are laid out by
:func:`Page` below SolaraViz's app bar instead of in SolaraViz's draggable grid, whose fixed
cell heights clip tall figures. ``page`` is the page element (the Mesa convention); ``Page`` the
component solara serves.

This module imports solara and mesa's visualisation package: it is never imported by
``model/__init__.py``, so the model itself stays light.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import gc
import html
import io
import math
import sys
import time
import warnings
from pathlib import Path
from typing import Any

if not __package__:  # run as a script (``solara run model/app.py``): solara put ``model/`` first
    # on sys.path, where ``model/model.py`` would shadow the ``model`` package; use the root
    _HERE = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
    sys.path.insert(0, str(_HERE.parent))
    if getattr(sys.modules.get("model"), "__path__", None) is None:
        sys.modules.pop("model", None)

import mesa
import numpy as np
import pandas as pd
import solara
import solara.lab
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

with warnings.catch_warnings():
    # solara's hook checker flags SolaraViz's ComponentsView (early return before a hook); we
    # always pass no components, so the early return is taken on every render and is harmless
    warnings.filterwarnings("ignore", message=".*ComponentsView.*", category=UserWarning)
    from mesa.visualization import SolaraViz

from model.calendar import parse_end
from model.inputs import DOCTOR_TYPES, load_inputs
from model.model import TeleModel
from model.params import START_DATE, Levers, ParameterError
from model.population import build_population
from model.simulate import DEFAULT_SCALE, frames

try:  # redraw after SolaraViz's Step/Play (present in Mesa 3.3 and later 3.x)
    from mesa.visualization.utils import update_counter
except ImportError:  # pragma: no cover - a Mesa without it: the page still works, Play redraws less
    update_counter = None

ROOT = Path(__file__).resolve().parents[1]
SCENARIO_DIR = ROOT / "experiments" / "scenarios"
#: The page always runs to the end of 2021 (the horizon of the targets).
END = dt.date(2021, 12, 31)
YEARS = (2019, 2020, 2021)
BASELINE = "baseline"

# Plain-language labels of the levers (the lever's own name is shown under each control).
LABELS: dict[str, str] = {
    "known_patient_rule_until": "Lift the 12-month known-patient rule",
    "pathway_rule_until": "Lift the coordinated-care pathway rule",
    "coverage_rate": "Share of the fee paid by the national insurance",
    "full_coverage_from": "Cover teleconsultations 100%",
    "equipment_subsidy_eur": "Equipment aid per doctor (EUR)",
    "equipment_subsidy_from": "Equipment aid starts on",
    "doctolib": "Doctolib offers video",
    "doctolib_launch": "Doctolib video launches on",
    "doctolib_everywhere_at_launch": "Doctolib video for all its clients at launch",
    "doctolib_price_eur": "Doctolib video price (EUR per month)",
    "platforms_free_from": "Make video platforms free for doctors",
    "awareness_campaign": "National awareness campaign (extra awareness per year)",
    "awareness_campaign_from": "Campaign starts on",
    "pharmacy_points": "Extra pharmacies with assisted teleconsultation",
    "pharmacy_points_from": "Extra pharmacy points open on",
    "target_deserts": "Target under-served areas (0 = no, 1 = fully)",
    "target_deserts_from": "Targeting starts on",
    "digital_inclusion": "Share of digitally excluded people brought online",
    "covid": "COVID-19 from March 2020 (rules relaxed, full cover, lockdowns)",
}
#: What the date of an optional-date lever means once its switch is on.
OPTIONAL_DATE_LABELS: dict[str, str] = {
    "known_patient_rule_until": "last day the rule holds",
    "pathway_rule_until": "last day the rule holds",
    "full_coverage_from": "from",
    "platforms_free_from": "from",
}
GROUPS: dict[str, tuple[str, ...]] = {
    "Access rules": (
        "known_patient_rule_until",
        "pathway_rule_until",
        "target_deserts",
        "target_deserts_from",
    ),
    "Money": (
        "coverage_rate",
        "full_coverage_from",
        "equipment_subsidy_eur",
        "equipment_subsidy_from",
    ),
    "Platforms": (
        "doctolib",
        "doctolib_launch",
        "doctolib_everywhere_at_launch",
        "doctolib_price_eur",
        "platforms_free_from",
    ),
    "Awareness and access": (
        "awareness_campaign",
        "awareness_campaign_from",
        "pharmacy_points",
        "pharmacy_points_from",
        "digital_inclusion",
    ),
    "COVID-19": ("covid",),
}
TYPE_LABELS = {
    "general_practitioner": "General practitioners",
    "specialist": "Other specialists",
    "health_centre": "Health-centre doctors",
    "hospital": "Hospital doctors",
}
CURRENT_COLOUR, BASELINE_COLOUR, TARGET_COLOUR = "tab:blue", "0.55", "tab:red"
FIG_DPI = 90


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
    """``baseline`` then the scenario files of ``experiments/scenarios/`` (if it can load them)."""
    from telesim.run_cmd import _scenario_loader

    names = [BASELINE]
    if _scenario_loader() is not None and SCENARIO_DIR.is_dir():
        names += sorted(p.stem for p in SCENARIO_DIR.glob("*.toml") if p.stem != BASELINE)
    return names


def load_scenario_settings(name: str, seed: int) -> Settings:
    """Settings from a scenario name (levers, uncertainty overrides, description)."""
    from telesim.run_cmd import resolve_scenario

    if name == BASELINE and not (SCENARIO_DIR / f"{BASELINE}.toml").is_file():
        return Settings(seed=seed)
    levers, overrides, description = resolve_scenario(name)
    return Settings(
        levers=lever_values(levers),
        seed=seed,
        scenario=name,
        uncertainty_overrides=dict(overrides),
        description=description,
    )


@functools.lru_cache(maxsize=16)
def _uncertainties(overrides_key: tuple):
    from telesim.run_cmd import resolve_uncertainties

    return resolve_uncertainties(None, dict(overrides_key))


def uncertainties_for(settings: Settings):
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
        return _annual_totals(self.weekly, self.last_day) if self.weeks else {}


def _annual_totals(weekly: pd.DataFrame, last_day: dt.date) -> dict[int, float]:
    from telesim.run_cmd import annual_totals

    return annual_totals(weekly, last_day)


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
    from telesim.run_cmd import load_observed

    return load_observed()


@functools.lru_cache(maxsize=1)
def targets() -> dict[int, float]:
    from telesim.run_cmd import annual_targets

    return annual_targets(observed())


# --------------------------------------------------------------------------------------------
# figures (matplotlib, drawn to PNG bytes)


def _compact_number(v: float, _pos=None) -> str:
    """1,500,000 -> 1.5M, 250,000 -> 250k (axis labels that never overlap)."""
    if abs(v) >= 1e6:
        return f"{v / 1e6:g}M"
    if abs(v) >= 1e3:
        return f"{v / 1e3:g}k"
    return f"{v:g}"


_thousands = FuncFormatter(_compact_number)


def _figure(width: float, height: float, left: float = 0.75) -> tuple[Figure, Any]:
    """A one-panel figure with fixed margins in inches (no layout engine: cheaper to draw)."""
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(
        left=left / width, right=1 - 0.15 / width, bottom=0.5 / height, top=1 - 0.35 / height
    )
    return fig, fig.subplots()


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=FIG_DPI)
    return buf.getvalue()


def _mid(weekly: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(weekly["week_start"]) + pd.Timedelta(days=3.5)


def _time_axis(ax) -> None:
    import matplotlib.dates as mdates

    ax.set_xlim(pd.Timestamp(START_DATE) - pd.Timedelta(days=7), pd.Timestamp(END))
    ax.xaxis.set_major_locator(mdates.MonthLocator(bymonth=(1, 7)))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%b\n%Y"))
    ax.grid(True, alpha=0.3)


def weekly_figure(cur: RunView, base: RunView, obs: pd.DataFrame) -> bytes:
    """Weekly acts, this setting beside the baseline, with the observed counts."""
    fig, ax = _figure(6.6, 3.7, left=0.9)
    ax.plot(_mid(base.weekly), base.weekly["acts"], color=BASELINE_COLOUR, lw=1.4, ls="--")
    ax.plot(_mid(cur.weekly), cur.weekly["acts"], color=CURRENT_COLOUR, lw=1.8)
    values = []
    for kind, colour in (("weekly_count", "black"), ("monthly_count", "tab:orange")):
        rows = obs[obs["kind"] == kind]
        if rows.empty:
            continue
        days = (rows["period_end"] - rows["period_start"]).dt.days + 1
        value = rows["value"] * 7.0 / days if kind == "monthly_count" else rows["value"]
        values += list(value)
        ax.hlines(value, rows["period_start"], rows["period_end"], colors=colour, lw=1)
        centre = rows["period_start"] + (rows["period_end"] - rows["period_start"]) / 2
        bound = rows["bound"].fillna("")
        for marker, hollow, sel in (
            ("^", False, bound == "lower"),
            ("v", False, bound == "upper"),
            ("o", True, bound.isin(["approx", "approximate"])),
            ("o", False, ~bound.isin(["lower", "upper", "approx", "approximate"])),
        ):
            if sel.any():
                ax.scatter(
                    centre[sel],
                    value[sel],
                    marker=marker,
                    s=30,
                    facecolors="white" if hollow else colour,
                    edgecolors=colour,
                    zorder=3,
                )
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(_thousands)
    if values:
        ax.set_ylim(bottom=max(1.0, min(values) / 10))
    ax.set_ylabel("acts per week (log scale)")
    ax.set_title("Teleconsultations per week", loc="left", fontsize=11)
    ax.legend(
        handles=[
            _line(CURRENT_COLOUR, "this setting"),
            _line(BASELINE_COLOUR, "baseline", ls="--"),
            _line("black", "observed (weekly)", marker="o", ls=""),
            _line("tab:orange", "observed (monthly, per week)", marker="o", ls=""),
        ],
        loc="lower right",
        fontsize=8,
        framealpha=0.9,
    )
    _time_axis(ax)
    return _png(fig)


def _line(colour, label, ls="-", marker=None):
    from matplotlib.lines import Line2D

    return Line2D([], [], color=colour, ls=ls, marker=marker, label=label)


def _cumulative(view: RunView) -> pd.Series:
    from telesim.run_cmd import daily_acts

    if not view.weeks:
        return pd.Series([], index=pd.DatetimeIndex([]), dtype=float)
    daily = daily_acts(view.weekly, view.last_day)
    return daily.groupby(daily.index.year).cumsum()


def cumulative_figure(cur: RunView, base: RunView, tgt: dict[int, float]) -> bytes:
    """Acts accumulated since 1 January of each year against the annual targets."""
    fig, ax = _figure(6.6, 3.7, left=0.9)
    for view, colour, ls in ((base, BASELINE_COLOUR, "--"), (cur, CURRENT_COLOUR, "-")):
        cum = _cumulative(view)
        for _, part in cum.groupby(cum.index.year):
            ax.plot(part.index, part.to_numpy(), color=colour, ls=ls, lw=1.8 if ls == "-" else 1.4)
    for year, target in sorted(tgt.items()):
        y0, y1 = pd.Timestamp(year, 1, 1), pd.Timestamp(year, 12, 31)
        if y0.date() > END:
            continue
        ax.hlines(target, y0, y1, colors=TARGET_COLOUR, linestyles=":", lw=1.4)
        ax.annotate(
            f"target {target / 1e6:g} M",
            (y0, target),
            xytext=(3, 3),
            textcoords="offset points",
            fontsize=8,
            color=TARGET_COLOUR,
        )
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(_thousands)
    ax.set_ylabel("acts since 1 January")
    ax.set_title("Acts so far in each year, against the targets", loc="left", fontsize=11)
    ax.legend(
        handles=[
            _line(CURRENT_COLOUR, "this setting"),
            _line(BASELINE_COLOUR, "baseline", ls="--"),
            _line(TARGET_COLOUR, "annual target", ls=":"),
        ],
        loc="upper left",
        fontsize=8,
        frameon=False,
    )
    _time_axis(ax)
    return _png(fig)


def doctors_figure(cur: RunView, base: RunView) -> bytes:
    """Doctors offering video, by week."""
    fig, ax = _figure(6.6, 3.7, left=0.9)
    ax.plot(
        _mid(base.weekly), base.weekly["adopting_doctors"], color=BASELINE_COLOUR, ls="--", lw=1.4
    )
    ax.plot(_mid(cur.weekly), cur.weekly["adopting_doctors"], color=CURRENT_COLOUR, lw=1.8)
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(_thousands)
    ax.set_ylabel("doctors")
    ax.set_title("Doctors offering video consultations", loc="left", fontsize=11)
    ax.legend(
        handles=[
            _line(CURRENT_COLOUR, "this setting"),
            _line(BASELINE_COLOUR, "baseline", ls="--"),
        ],
        loc="upper left",
        fontsize=8,
        frameon=False,
    )
    _time_axis(ax)
    return _png(fig)


def _paired_bars(ax, labels, current, baseline) -> None:
    y = np.arange(len(labels))
    ax.barh(y - 0.2, current, height=0.4, color=CURRENT_COLOUR, label="this setting")
    ax.barh(y + 0.2, baseline, height=0.4, color=BASELINE_COLOUR, label="baseline")
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(_thousands)
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8, framealpha=0.9)


def _period(view: RunView) -> str:
    if view.last_day is None:
        return "no week simulated yet"
    return f"15 Sep 2018 to {view.last_day:%d %b %Y}"


def region_figure(cur: RunView, base: RunView) -> bytes:
    """Acts by region over the period, the 18 regions ordered by this setting's total."""
    base = base.upto(cur.weeks)  # the same weeks as this setting
    order = cur.region_totals.sort_values(ascending=False, kind="stable")
    baseline = base.region_totals.reindex(order.index).fillna(0.0)
    fig, ax = _figure(6.6, 5.4, left=2.3)
    _paired_bars(ax, list(order.index), order.to_numpy(), baseline.to_numpy())
    ax.set_xlabel(f"acts, {_period(cur)}")
    ax.set_title("Acts by region", loc="left", fontsize=11)
    return _png(fig)


def type_figure(cur: RunView, base: RunView) -> bytes:
    """Acts by type of doctor over the period."""
    base = base.upto(cur.weeks)  # the same weeks as this setting
    labels = [TYPE_LABELS.get(t, t) for t in DOCTOR_TYPES]
    fig, ax = _figure(6.6, 3.0, left=1.75)
    current = cur.type_totals.reindex(list(DOCTOR_TYPES)).to_numpy()
    baseline = base.type_totals.reindex(list(DOCTOR_TYPES)).to_numpy()
    _paired_bars(ax, labels, current, baseline)
    ax.set_xlabel(f"acts, {_period(cur)}")
    ax.set_title("Acts by type of doctor", loc="left", fontsize=11)
    return _png(fig)


CHARTS = {
    "weekly": lambda c, b: weekly_figure(c, b, observed()),
    "cumulative": lambda c, b: cumulative_figure(c, b, targets()),
    "doctors": doctors_figure,
    "types": type_figure,
    "regions": region_figure,
}


def chart_images(m: WhatIfModel) -> dict[str, bytes]:
    """PNG bytes of every chart for the model's current week (memoised on the model)."""
    key = ("charts", m.weeks_done)
    cache = m.__dict__.setdefault("_charts", {})
    if key not in cache:
        cur, base = m.view(), baseline_view(m.settings)
        cache.clear()
        # matplotlib makes many short-lived objects; pausing the cyclic collector while drawing
        # saves repeated full collections of the server's large heap (measured: 10-30% faster)
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            cache[key] = {name: draw(cur, base) for name, draw in CHARTS.items()}
        finally:
            if was_enabled:
                gc.enable()
    return cache[key]


def totals_html(m: WhatIfModel) -> str:
    """The annual totals as an HTML table; every figure cell carries a ``data-testid``."""
    cur, base, tgt = m.view(), baseline_view(m.settings), targets()
    rows = []
    for year in YEARS:
        value = cur.annual.get(year)
        partial = cur.last_day is not None and cur.last_day < dt.date(year, 12, 31)
        text = "—" if value is None else f"{value:,.0f}" + (" so far" if partial else "")
        target = tgt.get(year)
        share = f"{value / target:.0%}" if value is not None and target else "—"
        b = base.annual.get(year)
        rows.append(
            f'<tr data-testid="total-row-{year}"><th>{year}</th>'
            f'<td data-testid="total-{year}">{text}</td>'
            f'<td data-testid="baseline-{year}">{"—" if b is None else f"{b:,.0f}"}</td>'
            f"<td>{'—' if target is None else f'{target:,.0f}'}</td>"
            f'<td data-testid="share-{year}">{share}</td></tr>'
        )
    return (
        "<style>.telesim-annual-totals td, .telesim-annual-totals th "
        "{padding: 2px 10px; text-align: right}</style>"
        '<table class="telesim-annual-totals" data-testid="annual-totals" '
        'style="border-collapse:collapse;font-size:15px">'
        '<tr style="border-bottom:1px solid #999"><th>year</th>'
        "<th>acts, this setting</th><th>baseline</th><th>target</th>"
        "<th>share of target</th></tr>" + "".join(rows) + "</table>"
    )


# --------------------------------------------------------------------------------------------
# page state (solara reactive variables are per browser session)

settings = solara.reactive(Settings())
current = solara.reactive(WhatIfModel(Settings(), run=True))
settings_error = solara.reactive("")


@solara.lab.task(prefer_threaded=True)
def run_to_end(s: Settings) -> float:
    """Build and run the whole horizon for ``s`` and show it; returns the seconds it took."""
    t0, c0 = time.perf_counter(), time.thread_time()
    m = WhatIfModel(s, run=True)
    baseline_view(s)  # a new seed needs its own baseline run (counted with the model)
    t1, c1 = time.perf_counter(), time.thread_time()
    chart_images(m)  # draw in this worker thread, so the page only swaps images
    t2, c2 = time.perf_counter(), time.thread_time()
    # wall time, and the CPU time of this thread: on a busy machine the two part ways
    m.timing_note = (
        f"ran to 31 Dec 2021 in {t2 - t0:.1f} s (model {t1 - t0:.1f} s, charts {t2 - t1:.1f} s; "
        f"CPU time: model {c1 - c0:.1f} s, charts {c2 - c1:.1f} s)"
    )
    seconds = t2 - t0
    current.value = m
    return seconds


def press_run() -> None:
    s = settings.value
    try:
        s.to_levers()
    except (ParameterError, TypeError, ValueError) as exc:
        settings_error.value = str(exc)
        return
    settings_error.value = ""
    run_to_end(s)


def set_lever(name: str, value: Any) -> None:
    s = settings.value
    settings.value = dataclasses.replace(s, levers={**s.levers, name: value}, edited=True)


def choose_scenario(name: str) -> None:
    try:
        settings.value = load_scenario_settings(name, settings.value.seed)
        settings_error.value = ""
    except (ValueError, OSError) as exc:
        settings_error.value = f"scenario {name}: {exc}"


def set_seed(seed: int | None) -> None:
    if seed is not None and seed >= 0:
        settings.value = dataclasses.replace(settings.value, seed=int(seed))


def back_to_baseline() -> None:
    settings.value = Settings(seed=settings.value.seed)
    settings_error.value = ""


# --------------------------------------------------------------------------------------------
# controls


def _slider_step(spec: dict[str, Any]) -> float:
    """A step giving about 1,000 positions that still lands on the default."""
    lo, hi, default = spec["low"], spec["high"], spec["default"]
    step = 10.0 ** math.floor(math.log10((hi - lo) / 1000.0))
    if spec["type"] == "int":
        step = max(1, int(step))
    for _ in range(6):
        if abs(round((default - lo) / step) * step - (default - lo)) < 1e-9:
            break
        step = step / 10 if spec["type"] != "int" else max(1, step // 10)
    return step


def _decimals(step: float) -> int:
    return max(0, -math.floor(math.log10(step))) if step < 1 else 0


@solara.component
def LeverControl(spec: dict[str, Any], value: Any):
    """One lever: a switch, a slider or a date (an optional date is a switch plus a date)."""
    name, kind = spec["name"], spec["type"]
    label = LABELS.get(name, spec.get("doc", name))
    low, high = spec.get("low"), spec.get("high")
    with solara.Column(
        gap="0px", classes=["telesim-lever", f"lever-{name}"], style={"margin-bottom": "10px"}
    ):
        if kind == "bool":
            solara.Switch(
                label=label,
                value=bool(value),
                on_value=lambda v: set_lever(name, bool(v)),
                classes=[f"lever-input-{name}"],
            )
        elif kind in ("float", "int"):
            # the label on its own line: beside the slider it leaves the slider no width
            solara.Text(label, style={"font-size": "14px", "margin-top": "6px"})
            step = _slider_step(spec)
            if kind == "int":
                solara.SliderInt(
                    "",
                    value=int(value),
                    min=int(low),
                    max=int(high),
                    step=int(step),
                    on_value=lambda v: set_lever(name, int(v)),
                )
            else:
                digits = _decimals(step)
                solara.SliderFloat(
                    "",
                    value=float(value),
                    min=float(low),
                    max=float(high),
                    step=step,
                    on_value=lambda v: set_lever(name, round(float(v), digits)),
                )
        elif kind == "dt.date|None":
            on = value is not None
            solara.Switch(
                label=label,
                value=on,
                on_value=lambda v: set_lever(name, low if v else None),
                classes=[f"lever-input-{name}"],
            )
            # always in the tree (hidden while the switch is off): a fixed structure keeps the
            # browser's widgets in step with the server when the switch flips
            with solara.Div(style={} if on else {"display": "none"}):
                _date_input(name, OPTIONAL_DATE_LABELS.get(name, "date"), value or low, low, high)
        else:  # dt.date
            _date_input(name, label, value, low, high)
        solara.Text(
            f"{name} = {_show(value)}",
            style={"font-size": "11px", "color": "#777", "font-family": "monospace"},
        )


def _date_input(name: str, label: str, value: dt.date, low: dt.date, high: dt.date) -> None:
    def on_date(v):
        if v is not None:
            set_lever(name, v)

    solara.lab.InputDate(
        value,
        on_value=on_date,
        label=label,
        date_format="%Y-%m-%d",
        min_date=low.isoformat() if low else None,
        max_date=high.isoformat() if high else None,
        dense=True,
    )


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)


@solara.component
def SettingsPanel():
    """Scenario, seed, the run button and one control per lever (grouped)."""
    s = settings.value
    specs = {spec["name"]: spec for spec in lever_specs()}
    names = scenario_names()
    with solara.Card("What if?", margin=0, classes=["telesim-settings"]):
        solara.Select(
            "Start from scenario",
            values=names,
            value=s.scenario if s.scenario in names else BASELINE,
            on_value=choose_scenario,
            classes=["scenario-select"],
        )
        solara.Text(s.description, style={"font-size": "12px", "color": "#555"})
        if s.uncertainty_overrides:
            solara.Text(
                "scenario changes behaviour: "
                + ", ".join(f"{k} = {v}" for k, v in s.uncertainty_overrides.items()),
                style={"font-size": "12px", "color": "#555"},
            )
        solara.InputInt("Random seed", value=s.seed, on_value=set_seed, classes=["seed-input"])
        with solara.Row():
            solara.Button(
                "Run to end-2021",
                on_click=press_run,
                color="primary",
                disabled=run_to_end.pending,
                classes=["telesim-run"],
            )
            solara.Button("Baseline settings", on_click=back_to_baseline, outlined=True)
        # a static note, not an animated progress bar: the browser usually shares the machine
        # and an animation redrawn at 60 frames a second takes CPU from the run
        solara.Text(
            "Running to 31 Dec 2021…" if run_to_end.pending else "",
            classes=["telesim-running"],
            style={"font-size": "13px", "color": "#1976d2", "min-height": "18px"},
        )
        failed = run_to_end.error and not run_to_end.pending
        solara.Text(
            settings_error.value or (f"run failed: {run_to_end.exception}" if failed else ""),
            classes=["telesim-settings-error"],
            style={"color": "#b00020", "font-size": "13px"},
        )
        grouped = [n for names_ in GROUPS.values() for n in names_]
        groups = dict(GROUPS)
        others = tuple(n for n in specs if n not in grouped)
        if others:
            groups["Other levers"] = others
        for title, members in groups.items():
            present = [n for n in members if n in specs]
            if not present:
                continue
            solara.HTML(tag="div", unsafe_innerHTML=f"<b>{title}</b>", style="margin-top: 10px")
            for n in present:
                LeverControl(specs[n], s.levers.get(n, specs[n]["default"])).key(f"lever-{n}")


# --------------------------------------------------------------------------------------------
# results


@solara.component
def Chart(name: str, image: bytes):
    with solara.Column(classes=["telesim-chart", f"chart-{name}"], style={"min-width": "0"}):
        solara.Image(image, format="png", width="100%")


@solara.component
def Results(model: WhatIfModel):
    """The totals and the charts of the model SolaraViz holds, beside the baseline."""
    if update_counter is not None:
        update_counter.get()  # redraw after SolaraViz's Step and Play
    m = model
    images = solara.use_memo(lambda: chart_images(m), dependencies=[id(m), m.weeks_done])
    s = m.settings
    with solara.Column(classes=["telesim-results"], style={"padding": "8px"}):
        state = (
            "full horizon, 15 Sep 2018 to 31 Dec 2021"
            if m.finished
            else f"{m.weeks_done} of {m.tele.n_weeks} weeks simulated (Play or Step to go on, "
            "or Run to end-2021)"
        )
        solara.HTML(
            tag="div",
            unsafe_innerHTML=f"<b>Showing:</b> {html.escape(s.label())} — {state}. Grey dashed "
            "lines and bars: the baseline (rules and dates as they were, no COVID) with the same "
            f"seed. Uncertainties: {html.escape(m.uncertainties_source)}.",
        )
        solara.Text(m.timing_note, classes=["telesim-last-run"], style={"color": "#555"})
        solara.HTML(tag="div", unsafe_innerHTML=totals_html(m), classes=["telesim-totals"])
        with solara.Columns([1, 1]):
            Chart("weekly", images["weekly"])
            Chart("cumulative", images["cumulative"])
        with solara.Columns([1, 1]):
            Chart("doctors", images["doctors"])
            Chart("types", images["types"])
        with solara.Columns([1, 1]):
            Chart("regions", images["regions"])
            solara.HTML(tag="div", unsafe_innerHTML=HELP, style="padding: 16px; font-size: 14px")


# (HTML, not Markdown: solara's Markdown pulls KaTeX styles from a CDN, unreachable offline)
HELP = """
<p><b>How to use this page.</b> Pick a scenario to start from, move the levers on the left, and
press <b>Run to end-2021</b>: the model reruns 15 Sep 2018 – 31 Dec 2021 with those settings and
every chart shows the result (blue) beside the baseline (grey). <i>Reset</i>, <i>Step</i> and
<i>Play</i> in the left panel do the same week by week (Reset starts again from week 0 with the
current settings; Step advances 13 weeks).</p>
<p>Counts are national teleconsultation acts reimbursed by the national insurance. The targets are
the government's: 500,000 acts in 2019, 1 million in 2020 and 1.3 million in 2021. Observed points
are the published counts the model was calibrated on (hollow: approximate; triangles: lower
bounds).</p>
"""


@solara.component
def Page():
    """The page solara serves: SolaraViz's shell (app bar, Mesa controls) and the what-if panels."""
    SolaraViz(
        current,
        components=[],
        model_params={"settings": settings},
        name="telesim — what if? Teleconsultation in France, 2018-2021",
        render_interval=13,
        play_interval=50,
    )
    with solara.Sidebar():
        SettingsPanel()
    Results(current.value)


#: The page element (Mesa's convention: ``page = SolaraViz(...)``; here the SolaraViz page with
#: the what-if panels around it).
page = Page()
