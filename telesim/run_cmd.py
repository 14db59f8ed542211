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
  against the annual targets (both read from ``calibration/data/observed.csv``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import subprocess
import sys
import time
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from telesim.argtypes import nonneg_int, positive_int
from telesim.atomic import atomic_dir, atomic_savefig, atomic_to_parquet, atomic_write_json

#: Repository root (this file is ``<root>/telesim/run_cmd.py``).
ROOT = Path(__file__).resolve().parents[1]
#: Observed counts and annual targets (written by the calibration work; see its README section).
OBSERVED_CSV = ROOT / "calibration" / "data" / "observed.csv"
#: Used only when ``observed.csv`` has no ``annual_target`` rows (model brief §1).
FALLBACK_TARGETS = {2019: 500_000, 2020: 1_000_000, 2021: 1_300_000}
#: The detail tables written as Parquet, in this order.
TABLES = ("weekly", "by_region", "by_platform", "by_age")
#: Packages whose versions go into metadata.json.
PACKAGES = ("mesa", "numpy", "pandas", "scipy", "pyarrow", "matplotlib")
NATIONAL_SCOPES = {"", "france", "national", "fr", "all", "nan"}


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
        type=_iso_date,
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


def _iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


# --------------------------------------------------------------------------------------------
# scenario and parameters


def resolve_scenario(name_or_path: str):
    """Return ``(levers, uncertainty_overrides, description)`` for a scenario name or file.

    When ``experiments/scenarios.py`` exists and exposes ``load_scenario(name_or_path)``, it is
    used; it may return a ``(levers, overrides, description)`` tuple, a mapping or an object with
    ``levers``, ``uncertainty_overrides`` (or ``uncertainties``) and ``description``; ``levers``
    may be a :class:`model.params.Levers` or a mapping. Otherwise only ``baseline`` is known.
    Raises ``ValueError`` naming ``--scenario`` for an unknown or malformed scenario.
    """
    from model.params import Levers, ParameterError

    loader = _scenario_loader()
    if loader is None:
        if str(name_or_path) != "baseline":
            raise ValueError(
                f"--scenario: unknown scenario {str(name_or_path)!r}; allowed: baseline "
                "(scenario files need experiments/scenarios.py)"
            )
        return Levers(), {}, "baseline: the rules and platform dates as they were, no COVID"
    try:
        loaded = loader(name_or_path)
    except (ParameterError, ValueError, KeyError, OSError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        raise ValueError(f"--scenario {str(name_or_path)!r}: {message}") from exc
    levers, overrides, description = _unpack_scenario(loaded)
    if not isinstance(levers, Levers):
        levers = Levers.from_dict(dict(levers or {}), where=f"scenario {name_or_path}")
    return levers, dict(overrides or {}), str(description or name_or_path)


def _scenario_loader():
    try:
        from experiments import scenarios
    except ModuleNotFoundError as exc:
        if exc.name in ("experiments", "experiments.scenarios"):
            return None
        raise
    return getattr(scenarios, "load_scenario", None)


def _unpack_scenario(loaded) -> tuple[Any, Any, Any]:
    if isinstance(loaded, tuple) and len(loaded) == 3:
        return loaded
    get = loaded.get if isinstance(loaded, dict) else lambda k, d=None: getattr(loaded, k, d)
    overrides = get("uncertainty_overrides")
    if overrides is None:
        overrides = get("uncertainties")
    return get("levers"), overrides, get("description")


def resolve_uncertainties(path: Path | None, overrides: dict[str, Any]):
    """The uncertainties to run with and a sentence saying where they came from."""
    from model.params import ParameterError, Uncertainties

    if path is None:
        uncertainties, source = _model_attr("best_uncertainties")()
    else:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ValueError(f"--uncertainties: cannot read {path}: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"--uncertainties: {path} is not valid JSON: {exc}") from None
        values = _uncertainty_values(data)
        if values is None:
            raise ValueError(
                f"--uncertainties: {path} must hold a JSON object of uncertainty values "
                "(or one under the key 'uncertainties')"
            )
        try:
            uncertainties = Uncertainties.from_dict(values, where=str(path))
        except (ParameterError, TypeError) as exc:
            raise ValueError(f"--uncertainties: {exc}") from None
        source = f"file {path}"
    if overrides:
        try:
            uncertainties = uncertainties.replace(**overrides)
        except (ParameterError, TypeError) as exc:
            raise ValueError(f"--scenario: uncertainty override: {exc}") from None
        source += f"; scenario overrides {sorted(overrides)}"
    return uncertainties, source


def _uncertainty_values(data: Any) -> dict | None:
    if not isinstance(data, dict):
        return None
    for key in ("uncertainties", "parameters", "values"):
        if isinstance(data.get(key), dict):
            return data[key]
    return data


def _model_attr(name: str):
    """``model.<name>``, falling back to ``model.simulate.<name>`` (the module)."""
    import importlib

    import model

    if hasattr(model, name) and not isinstance(getattr(model, name), type(importlib)):
        return getattr(model, name)
    module = importlib.import_module("model.simulate")
    return getattr(module, name)


# --------------------------------------------------------------------------------------------
# the run


def run(args: argparse.Namespace) -> int:
    from model import simulate
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
    scale = args.scale if args.scale is not None else _default_scale()
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
    targets = annual_targets(observed)
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
        "versions": package_versions(),
        "git": git_info(),
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


def _default_scale() -> int | None:
    try:
        return int(_model_attr("DEFAULT_SCALE"))
    except (AttributeError, ImportError):
        return None


def _slug(name: str) -> str:
    stem = Path(str(name)).stem if str(name).endswith(".toml") else str(name)
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)


def _title(args, scale) -> str:
    return f"telesim run — scenario {args.scenario}, seed {args.seed}, scale {scale}"


# --------------------------------------------------------------------------------------------
# metadata helpers


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_info(root: Path = ROOT) -> dict[str, Any]:
    """``{"commit": sha or None, "dirty": bool or None}`` for the checkout holding the code."""

    def git(*cmd: str) -> str | None:
        try:
            res = subprocess.run(
                ["git", "-C", str(root), *cmd], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return res.stdout.strip() if res.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() != root.resolve():
        return {"commit": None, "dirty": None}
    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


# --------------------------------------------------------------------------------------------
# observed data, totals and the figure


def load_observed(path: Path = OBSERVED_CSV):
    """National rows of ``observed.csv`` with parsed dates; an empty frame if it is missing."""
    import pandas as pd

    columns = ["id", "kind", "period_start", "period_end", "scope", "value", "bound"]
    if not Path(path).is_file():
        return pd.DataFrame(columns=columns)
    df = pd.read_csv(path, dtype={"scope": str, "bound": str, "kind": str})
    for col in ("period_start", "period_end"):
        df[col] = pd.to_datetime(df[col], errors="coerce")
    df["value"] = pd.to_numeric(df["value"], errors="coerce")
    df["bound"] = df.get("bound", pd.Series("", index=df.index)).fillna("").str.lower()
    scope = df.get("scope", pd.Series("", index=df.index)).fillna("").str.strip().str.lower()
    national = scope.isin(NATIONAL_SCOPES) | (df["kind"] == "annual_target")
    return df[national & df["value"].notna() & df["period_start"].notna()].reset_index(drop=True)


def annual_targets(observed) -> dict[int, float]:
    rows = observed[observed["kind"] == "annual_target"]
    if rows.empty:
        return dict(FALLBACK_TARGETS)
    return {int(r.period_start.year): float(r.value) for r in rows.itertuples()}


def daily_acts(weekly, end: dt.date):
    """Weekly acts spread evenly over their seven days, cut at ``end`` (a pandas Series)."""
    import numpy as np
    import pandas as pd

    starts = pd.to_datetime(weekly["week_start"]).to_numpy(dtype="datetime64[D]")
    days = (starts[:, None] + np.arange(7)[None, :]).ravel()
    values = np.repeat(weekly["acts"].to_numpy(dtype=float) / 7.0, 7)
    keep = days <= np.datetime64(end, "D")
    return pd.Series(values[keep], index=pd.DatetimeIndex(days[keep]), name="acts")


def annual_totals(weekly, end: dt.date) -> dict[int, float]:
    """Acts per calendar year, weeks straddling a new year split pro rata by days."""
    daily = daily_acts(weekly, end)
    totals = daily.groupby(daily.index.year).sum()
    return {int(y): float(v) for y, v in totals.items()}


def simulated_over(weekly, end: dt.date, start, stop) -> float | None:
    """Simulated acts from ``start`` to ``stop`` inclusive (None if the run does not cover it)."""
    daily = daily_acts(weekly, end)
    if daily.empty or stop > daily.index[-1]:
        return None
    return float(daily[(daily.index >= start) & (daily.index <= stop)].sum())


_MARKERS = {"lower": "^", "upper": "v"}


def acts_figure(weekly, end: dt.date, observed, targets: dict[int, float], title: str = ""):
    """Two panels: weekly acts with observed points; cumulative acts per year vs targets."""
    import pandas as pd
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    thousands = FuncFormatter(lambda v, _: f"{v:,.0f}")
    fig = Figure(figsize=(11, 8.5), layout="constrained")
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    start = pd.Timestamp(weekly["week_start"].iloc[0]) if len(weekly) else pd.Timestamp(end)
    stop = pd.Timestamp(end)

    # --- panel 1: weekly acts ---
    mid = pd.to_datetime(weekly["week_start"]) + pd.Timedelta(days=3.5)
    acts = weekly["acts"].to_numpy(dtype=float)
    ax1.plot(mid, acts, color="tab:blue", lw=1.8, label="simulated weekly acts")
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
            ax1.plot([r.period_start, r.period_end], [value, value], color=color, lw=1.2)
            ax1.plot(
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
        ax1.set_yscale("log")
        ax1.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax1.yaxis.set_minor_formatter(NullFormatter())
        if obs_values:  # the first weeks' handful of acts would squash the observed range
            ax1.set_ylim(bottom=max(1.0, min(obs_values) / 10))
        ax1.set_ylabel("acts per week (log scale)")
    else:
        ax1.set_ylabel("acts per week")
    ax1.yaxis.set_major_formatter(thousands)
    ax1.legend(handles=handles, loc="lower right", fontsize=9, framealpha=0.9)
    ax1.set_title("Weekly téléconsultation acts", loc="left")
    ax1.grid(True, alpha=0.3)

    # --- panel 2: cumulative acts per calendar year against the targets ---
    daily = daily_acts(weekly, end)
    if not daily.empty:
        cumulative = daily.groupby(daily.index.year).cumsum()
        for year, part in cumulative.groupby(cumulative.index.year):
            ax2.plot(part.index, part.to_numpy(), color="tab:blue", lw=1.8)
            ax2.annotate(
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
        ax2.hlines(target, max(y0, start), y1, colors="tab:red", linestyles="--", lw=1.2)
        ax2.plot([y1], [target], marker="D", color="tab:red", ms=7, ls="")
        ax2.annotate(
            f"target {year}: {target:,.0f}",
            (max(y0, start), target),
            xytext=(4, 4),
            textcoords="offset points",
            fontsize=9,
            color="tab:red",
        )
    ax2.set_ylim(0, ax2.get_ylim()[1] * 1.08)
    ax2.yaxis.set_major_formatter(thousands)
    ax2.set_ylabel("acts since 1 January")
    ax2.set_title("Cumulative acts per calendar year against the annual targets", loc="left")
    ax2.legend(
        handles=[
            Line2D([], [], color="tab:blue", lw=1.8, label="simulated, cumulative in the year"),
            Line2D([], [], color="tab:red", ls="--", marker="D", label="annual target"),
        ],
        loc="upper left",
        fontsize=9,
        frameon=False,
    )
    ax2.grid(True, alpha=0.3)
    ax2.set_xlim(start - pd.Timedelta(days=7), stop + pd.Timedelta(days=7))
    if title:
        fig.suptitle(title, fontsize=10, color="dimgrey")
    return fig


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
