"""``telesim run``: one simulation of a scenario, written to a run folder.

    telesim run --scenario baseline --seed 1 --end 2021-12-31 --out results/runs/baseline
                [--scale N] [--uncertainties FILE.json]

The run folder (written atomically: it appears complete or not at all, and an existing folder is
replaced only when the new run succeeded) holds:

* ``weekly.parquet``, ``by_region.parquet``, ``by_platform.parquet``, ``by_age.parquet`` — the
  tables of ``simulate(..., detail=True)``;
* ``metadata.json`` — scenario, levers, uncertainties and where they came from, seed, end, scale,
  package versions, git commit, command line, timestamp, wall time and the annual totals;
* ``acts.png`` — weekly acts with the observed points, and cumulative acts per calendar year
  against the annual targets (both read from ``calibration/data/observed.csv``, through
  :mod:`calibration.targets`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

from cli.options import iso_date, nonneg_int, positive_int
from infra.atomic import atomic_dir, atomic_savefig, atomic_to_parquet, atomic_write_json
from infra.provenance import git_info, package_versions

#: Repository root (this file is ``<root>/cli/run_cmd.py``).
ROOT = Path(__file__).resolve().parents[1]
#: The detail tables written as Parquet, in this order.
TABLES = ("weekly", "by_region", "by_platform", "by_age")
#: Packages whose versions go into metadata.json.
PACKAGES = ("mesa", "numpy", "pandas", "scipy", "pyarrow", "matplotlib")


# --------------------------------------------------------------------------------------------
# command line


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "run",
        help="run one scenario and write its tables, metadata and figure",
        description="Run the model once and write a run folder (Parquet tables, metadata.json, "
        "acts.png). The folder is replaced only when the run succeeds.",
    )
    p.add_argument(
        "--scenario",
        default="baseline",
        help="scenario name or scenario file (default: baseline)",
    )
    p.add_argument("--seed", type=nonneg_int, default=1, help="root random seed (default: 1)")
    p.add_argument(
        "--end",
        type=iso_date,
        default=dt.date(2021, 12, 31),
        help="last simulated day, YYYY-MM-DD (default: 2021-12-31)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="run folder (default: results/runs/<scenario>-seed<seed>)",
    )
    p.add_argument(
        "--scale",
        type=positive_int,
        default=None,
        help="persons per patient agent, 1 = whole population (default: the model's)",
    )
    p.add_argument(
        "--uncertainties",
        type=Path,
        default=None,
        metavar="FILE.json",
        help="uncertainty values (JSON object, or a calibration file with an 'uncertainties' "
        "object); default: the project's best set (committed calibration, else defaults)",
    )
    return p


# --------------------------------------------------------------------------------------------
# scenario and parameters


def resolve_scenario(name_or_path: str):
    """``(levers, uncertainty_overrides, description)`` of a scenario name or file.

    Raises ``ValueError`` naming ``--scenario`` (and the file and field) for an unknown or
    malformed scenario.
    """
    from experiments.scenarios import ScenarioError, load_scenario

    try:
        scenario = load_scenario(name_or_path)
    except ScenarioError as exc:
        raise ValueError(f"--scenario {str(name_or_path)!r}: {exc}") from None
    return scenario.levers, dict(scenario.uncertainty_overrides), scenario.description


def resolve_uncertainties(path: Path | None, overrides: dict[str, Any]):
    """The uncertainties to run with and a sentence saying where they came from."""
    from model import ParameterError, best_uncertainties, load_uncertainties

    if path is None:
        uncertainties, source = best_uncertainties()
    else:
        try:
            uncertainties = load_uncertainties(path)
        except ParameterError as exc:
            raise ValueError(f"--uncertainties: {exc}") from None
        source = f"file {path}"
    if overrides:
        try:
            uncertainties = uncertainties.replace(**overrides)
        except ParameterError as exc:
            raise ValueError(f"--scenario: uncertainty override: {exc}") from None
        source += f"; scenario overrides {sorted(overrides)}"
    return uncertainties, source


# --------------------------------------------------------------------------------------------
# the run


def run(args: argparse.Namespace) -> int:
    from calibration.targets import annual_targets, load_observed
    from experiments.outcomes import annual_totals
    from model import DEFAULT_SCALE, simulate
    from model.params import MAX_END_DATE, START_DATE

    t_start = time.perf_counter()
    if not START_DATE <= args.end <= MAX_END_DATE:
        raise ValueError(
            f"--end: {args.end.isoformat()} is outside the allowed range "
            f"{START_DATE.isoformat()} .. {MAX_END_DATE.isoformat()}"
        )
    if args.uncertainties is not None and not args.uncertainties.is_file():
        raise ValueError(f"--uncertainties: no such file: {args.uncertainties}")
    levers, overrides, description = resolve_scenario(args.scenario)
    uncertainties, source = resolve_uncertainties(args.uncertainties, overrides)
    scale = args.scale if args.scale is not None else DEFAULT_SCALE
    out = args.out or ROOT / "results" / "runs" / f"{_slug(args.scenario)}-seed{args.seed}"

    t_sim = time.perf_counter()
    frames = simulate(
        uncertainties=uncertainties,
        levers=levers,
        seed=args.seed,
        end=args.end,
        scale=scale,
        detail=True,
    )
    sim_seconds = time.perf_counter() - t_sim

    weekly = frames["weekly"]
    observed = load_observed()
    annual = annual_totals(weekly, args.end)
    targets = annual_targets()
    meta = {
        "scenario": {
            "name": str(args.scenario),
            "description": description,
            "uncertainty_overrides": overrides,
        },
        "levers": levers.to_dict(),
        "uncertainties": uncertainties.to_dict(),
        "uncertainties_source": source,
        "seed": args.seed,
        "start": START_DATE.isoformat(),
        "end": args.end.isoformat(),
        "scale": scale,
        "weeks": int(len(weekly)),
        "annual_acts": {str(y): round(v, 1) for y, v in annual.items()},
        "versions": package_versions(PACKAGES),
        "git": git_info(ROOT),
        "command": list(getattr(args, "argv", None) or ["telesim", *sys.argv[1:]]),
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "wall_time_s": {"simulate": round(sim_seconds, 3)},
    }
    with atomic_dir(out) as tmp:
        for name in TABLES:
            atomic_to_parquet(frames[name], tmp / f"{name}.parquet")
        fig = acts_figure(weekly, args.end, observed, targets, title=_title(args, scale))
        atomic_savefig(fig, tmp / "acts.png", dpi=110)
        meta["wall_time_s"]["total"] = round(time.perf_counter() - t_start, 3)
        atomic_write_json(tmp / "metadata.json", meta)

    print(summary(args, scale, annual, targets, weekly, observed, sim_seconds, out))
    return 0


def _slug(name: str) -> str:
    stem = Path(str(name)).stem if str(name).endswith(".toml") else str(name)
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)


def _title(args, scale) -> str:
    return f"telesim run — scenario {args.scenario}, seed {args.seed}, scale {scale}"


# --------------------------------------------------------------------------------------------
# the figure


_MARKERS = {"lower": "^", "upper": "v"}


def _thousands():
    """An axis formatter writing 1500000 as 1,500,000."""
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _: f"{v:,.0f}")


def acts_figure(weekly, end: dt.date, observed, targets: dict[int, float], title: str = ""):
    """Two panels: weekly acts with observed points; cumulative acts per year vs targets."""
    import pandas as pd
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 8.5), layout="constrained")
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    start = pd.Timestamp(weekly["week_start"].iloc[0]) if len(weekly) else pd.Timestamp(end)
    stop = pd.Timestamp(end)
    _weekly_panel(ax1, weekly, observed, stop)
    _cumulative_panel(ax2, weekly, end, targets, start, stop)
    ax2.set_xlim(start - pd.Timedelta(days=7), stop + pd.Timedelta(days=7))
    if title:
        fig.suptitle(title, fontsize=10, color="dimgrey")
    return fig


def _weekly_panel(ax, weekly, observed, stop) -> None:
    """Weekly acts, with the observed weekly and monthly counts (log scale beside them)."""
    import pandas as pd
    from matplotlib.lines import Line2D
    from matplotlib.ticker import LogLocator, NullFormatter

    mid = pd.to_datetime(weekly["week_start"]) + pd.Timedelta(days=3.5)
    acts = weekly["acts"].to_numpy(dtype=float)
    ax.plot(mid, acts, color="tab:blue", lw=1.8, label="simulated weekly acts")
    handles = [Line2D([], [], color="tab:blue", lw=1.8, label="simulated weekly acts")]
    styles = {
        "weekly_count": ("black", "observed weekly count"),
        "monthly_count": ("tab:orange", "observed monthly count, as a weekly average"),
    }
    obs_values = []
    for kind, (color, label) in styles.items():
        rows = observed[(observed["kind"] == kind) & (observed["period_start"] <= stop)]
        if rows.empty:
            continue
        handles.append(Line2D([], [], color=color, marker="o", ls="", label=label))
        for r in rows.itertuples():
            days = (r.period_end - r.period_start).days + 1
            value = r.value * 7.0 / days if kind == "monthly_count" else r.value
            obs_values.append(value)
            centre = r.period_start + (r.period_end - r.period_start) / 2
            marker = _MARKERS.get(r.bound, "o")
            filled = r.bound not in ("approx", "approximate")
            ax.plot([r.period_start, r.period_end], [value, value], color=color, lw=1.2)
            ax.plot(
                [centre],
                [value],
                marker=marker,
                ms=8,
                color=color,
                mfc=color if filled else "white",
                ls="",
            )
    if obs_values:
        handles += [
            Line2D([], [], color="grey", marker="^", ls="", label="lower bound"),
            Line2D([], [], color="grey", marker="o", mfc="white", ls="", label="approximate"),
        ]
    positive = acts[acts > 0]
    if len(positive) and (positive.max() / max(positive.min(), 1.0) > 30 or obs_values):
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_minor_formatter(NullFormatter())
        if obs_values:  # the first weeks' handful of acts would squash the observed range
            ax.set_ylim(bottom=max(1.0, min(obs_values) / 10))
        ax.set_ylabel("acts per week (log scale)")
    else:
        ax.set_ylabel("acts per week")
    ax.yaxis.set_major_formatter(_thousands())
    ax.legend(handles=handles, loc="lower right", fontsize=9, framealpha=0.9)
    ax.set_title("Weekly téléconsultation acts", loc="left")
    ax.grid(True, alpha=0.3)


def _cumulative_panel(ax, weekly, end: dt.date, targets: dict[int, float], start, stop) -> None:
    """Acts accumulated since 1 January of each year, against the annual targets."""
    import pandas as pd
    from matplotlib.lines import Line2D

    from experiments.outcomes import daily_acts

    daily = daily_acts(weekly, end)
    if not daily.empty:
        cumulative = daily.groupby(daily.index.year).cumsum()
        for year, part in cumulative.groupby(cumulative.index.year):
            ax.plot(part.index, part.to_numpy(), color="tab:blue", lw=1.8)
            ax.annotate(
                f"{year}: {part.iloc[-1]:,.0f}",
                (part.index[-1], part.iloc[-1]),
                xytext=(-4, 6),
                textcoords="offset points",
                ha="right",
                fontsize=9,
                color="tab:blue",
            )
    for year, target in sorted(targets.items()):
        y0, y1 = pd.Timestamp(year, 1, 1), pd.Timestamp(year, 12, 31)
        if y0 > stop:
            continue
        ax.hlines(target, max(y0, start), y1, colors="tab:red", linestyles="--", lw=1.2)
        ax.plot([y1], [target], marker="D", color="tab:red", ms=7, ls="")
        ax.annotate(
            f"target {year}: {target:,.0f}",
            (max(y0, start), target),
            xytext=(4, 4),
            textcoords="offset points",
            fontsize=9,
            color="tab:red",
        )
    ax.set_ylim(0, ax.get_ylim()[1] * 1.08)
    ax.yaxis.set_major_formatter(_thousands())
    ax.set_ylabel("acts since 1 January")
    ax.set_title("Cumulative acts per calendar year against the annual targets", loc="left")
    ax.legend(
        handles=[
            Line2D([], [], color="tab:blue", lw=1.8, label="simulated, cumulative in the year"),
            Line2D([], [], color="tab:red", ls="--", marker="D", label="annual target"),
        ],
        loc="upper left",
        fontsize=9,
        frameon=False,
    )
    ax.grid(True, alpha=0.3)


def simulated_over(weekly, end: dt.date, start, stop) -> float | None:
    """Simulated acts from ``start`` to ``stop`` inclusive (None if the run does not cover it)."""
    from experiments.outcomes import daily_acts

    daily = daily_acts(weekly, end)
    if daily.empty or stop > daily.index[-1]:
        return None
    return float(daily[(daily.index >= start) & (daily.index <= stop)].sum())


def summary(args, scale, annual, targets, weekly, observed, seconds, out) -> str:
    lines = [
        f"telesim run: scenario {args.scenario}, seed {args.seed}, scale {scale}, "
        f"to {args.end.isoformat()} ({seconds:.1f} s)"
    ]
    for year, total in annual.items():
        note = ""
        if year == 2018:
            note = " (from 15 Sep)"
        elif year == args.end.year and (args.end.month, args.end.day) != (12, 31):
            note = f" (to {args.end.isoformat()})"
        label = f"acts {year}{note}:"
        line = f"  {label:<30}{total:>12,.0f}"
        if year in targets and not note:
            line += f"   target {targets[year]:,.0f} ({total / targets[year]:.0%})"
        lines.append(line)
    for r in observed[observed["kind"] == "cumulative_count"].itertuples():
        sim = simulated_over(weekly, args.end, r.period_start, r.period_end)
        if sim is None:
            continue
        rel = {"lower": "at least ", "upper": "at most ", "approx": "about "}.get(r.bound, "")
        period = f"{r.period_start:%Y-%m-%d}..{r.period_end:%Y-%m-%d}"
        lines.append(f"  observed {rel}{r.value:,.0f} acts {period}: simulated {sim:,.0f}")
    lines.append(f"run folder: {out}")
    return "\n".join(lines)
