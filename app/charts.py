"""The page's results: the annual totals table and the charts, drawn to PNG bytes.

Each chart draws this setting (blue) beside the baseline (grey) from two run views;
:func:`chart_images` draws them all for a model's current week, memoised on the model.
"""

from __future__ import annotations

import datetime as dt
import gc
import io
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

from experiments.outcomes import daily_acts
from model.inputs import DOCTOR_TYPES
from model.params import START_DATE

from .whatif import END, YEARS, RunView, WhatIfModel, baseline_view, observed, targets

TYPE_LABELS = {
    "general_practitioner": "General practitioners",
    "specialist": "Other specialists",
    "health_centre": "Health-centre doctors",
    "hospital": "Hospital doctors",
}
CURRENT_COLOUR, BASELINE_COLOUR, TARGET_COLOUR = "tab:blue", "0.55", "tab:red"
FIG_DPI = 90


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
            *_setting_and_baseline(),
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


def _setting_and_baseline() -> list:
    """Legend entries of this setting (blue) and the baseline (grey, dashed)."""
    return [_line(CURRENT_COLOUR, "this setting"), _line(BASELINE_COLOUR, "baseline", ls="--")]


def _time_chart(fig: Figure, ax, extra_handles: list | None = None) -> bytes:
    """A chart over time finished: legend (this setting, baseline, extras), time axis, PNG."""
    ax.legend(
        handles=[*_setting_and_baseline(), *(extra_handles or [])],
        loc="upper left",
        fontsize=8,
        frameon=False,
    )
    _time_axis(ax)
    return _png(fig)


def _cumulative(view: RunView) -> pd.Series:
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
    return _time_chart(fig, ax, [_line(TARGET_COLOUR, "annual target", ls=":")])


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
    return _time_chart(fig, ax)


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
