"""Outcomes computed from the runs on disk: annual acts, hit probabilities, paired differences.

Nothing here runs the model. Each run's weekly table is read back from its Parquet file, reduced to
a few numbers (one row per run), and the rows are aggregated per scenario; memory holds one run's
frames at a time plus the small summary table.

Annual totals split a week that straddles 1 January pro rata by days (row k covers the seven days
from 15 Sep 2018 + 7k days); days after the run's last day are dropped.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .runner import run_dir

#: Years the outcomes cover (the targets' years and the first, partial one).
YEARS = (2019, 2020, 2021)
#: Doctor types, as in the weekly table's ``acts_<type>`` columns.
DOCTOR_TYPES = ("general_practitioner", "specialist", "health_centre", "hospital")
#: The interval reported everywhere: 5th to 95th percentile.
LOW_Q, HIGH_Q = 0.05, 0.95


# --------------------------------------------------------------------------------------------
# per run


def _spread_over_days(
    week_start: Sequence[Any], values: Sequence[float], end: str | dt.date | None
) -> tuple[np.ndarray, np.ndarray]:
    """Each week's value spread evenly over its seven days: ``(days, values)``, days after ``end``
    dropped, in week order."""
    starts = pd.to_datetime(pd.Series(week_start)).to_numpy(dtype="datetime64[D]")
    vals = np.asarray(values, dtype=float)
    if len(starts) != len(vals):
        raise ValueError(f"{len(starts)} week starts for {len(vals)} values")
    days = (starts[:, None] + np.arange(7)[None, :]).ravel()
    share = np.repeat(vals / 7.0, 7)
    if end is not None:
        keep = days <= np.datetime64(pd.Timestamp(end).date(), "D")
        days, share = days[keep], share[keep]
    return days, share


def annual_split(
    week_start: Sequence[Any], values: Sequence[float], end: str | dt.date | None = None
) -> dict[int, float]:
    """Totals per calendar year, weeks straddling 1 January split pro rata by days.

    Each week's value is spread evenly over its seven days; days after ``end`` are dropped.
    """
    days, share = _spread_over_days(week_start, values, end)
    years = days.astype("datetime64[Y]").astype(int) + 1970
    return {int(year): float(share[years == year].sum()) for year in np.unique(years)}


def annual_totals(weekly: pd.DataFrame, end: str | dt.date | None = None) -> dict[int, float]:
    """Acts per calendar year of one run's weekly table (see :func:`annual_split`)."""
    return annual_split(weekly["week_start"], weekly["acts"], end)


def daily_acts(weekly: pd.DataFrame, end: str | dt.date | None = None) -> pd.Series:
    """Weekly acts spread evenly over their seven days, cut at ``end``: a Series indexed by day."""
    days, share = _spread_over_days(weekly["week_start"], weekly["acts"], end)
    return pd.Series(share, index=pd.DatetimeIndex(days), name="acts")


def covers_year(end: str | dt.date, year: int) -> bool:
    """Whether a run ending on ``end`` covers the whole of ``year``."""
    return pd.Timestamp(end).date() >= dt.date(year, 12, 31)


def year_end_value(weekly: pd.DataFrame, column: str, year: int) -> float | None:
    """The value of a stock (adopting doctors, patients ever) in the last week starting in year."""
    starts = pd.to_datetime(weekly["week_start"])
    rows = weekly[starts.dt.year == year]
    return float(rows[column].iloc[-1]) if len(rows) else None


def summarise_weekly(weekly: pd.DataFrame, end: str | dt.date) -> dict[str, float]:
    """One run's outcomes: acts per year (total and by type), adopting doctors and patients."""
    row: dict[str, float] = {}
    for year, total in annual_split(weekly["week_start"], weekly["acts"], end).items():
        if year in YEARS and covers_year(end, year):
            row[f"acts_{year}"] = total
    for kind in DOCTOR_TYPES:
        column = f"acts_{kind}"
        if column not in weekly:
            continue
        for year, total in annual_split(weekly["week_start"], weekly[column], end).items():
            if year in YEARS and covers_year(end, year):
                row[f"acts_{kind}_{year}"] = total
    for year in YEARS:
        if not covers_year(end, year):
            continue
        for column in ("adopting_doctors", "patients_ever"):
            if column in weekly:
                value = year_end_value(weekly, column, year)
                if value is not None:
                    row[f"{column}_end_{year}"] = value
    return row


def read_meta(path: Path) -> dict[str, Any]:
    return json.loads((path / "metadata.json").read_text(encoding="utf-8"))


def run_paths(out: str | Path, labels: Iterable[str] | None = None) -> list[Path]:
    """Every finished run folder under ``out/runs`` (optionally only some labels), sorted."""
    root = Path(out) / "runs"
    if not root.is_dir():
        return []
    if labels is None:
        found = root.glob("*/*/seed-*/metadata.json")
    else:
        found = (
            p for lab in labels for p in root.glob(f"{_glob_safe(lab)}/*/seed-*/metadata.json")
        )
    return sorted({p.parent for p in found})


def _glob_safe(label: str) -> str:
    from .runner import slug

    return "".join(f"[{c}]" if c in "*?[]" else c for c in slug(label))


def summary_table(
    out: str | Path,
    plan: Sequence[dict[str, Any]] | None = None,
    labels: Iterable[str] | None = None,
) -> pd.DataFrame:
    """One row per run on disk: label, parameter set, seed, replicate and the run's outcomes
    (acts, stocks and public cost, :func:`experiments.costs.run_costs`).

    With ``plan`` only the runs of the experiment's replicates are read (others in the folder,
    e.g. of a larger earlier experiment, are left out), for the given labels.
    """
    if plan is not None and labels is not None:
        paths = [run_dir(out, lab, rep["param_id"], rep["seed"]) for lab in labels for rep in plan]
        paths = [p for p in paths if (p / "metadata.json").is_file()]
    else:
        paths = run_paths(out, labels)
    return summarise_runs(paths)


def summarise_runs(paths: Iterable[Path]) -> pd.DataFrame:
    """One row per run folder (see :func:`summary_table`), in the order given."""
    from .costs import run_costs

    rows = []
    for path in paths:
        meta = read_meta(path)
        weekly = pd.read_parquet(path / "weekly.parquet")
        row = {
            "label": meta["label"],
            "param_id": meta["param_id"],
            "seed": int(meta["seed"]),
            "replicate": meta.get("replicate"),
        }
        row.update(summarise_weekly(weekly, meta["end"]))
        row.update(run_costs(weekly, meta["levers"], meta.get("uncertainties"), meta["end"]))
        rows.append(row)
    return pd.DataFrame(rows)


def region_table(
    out: str | Path, plan: Sequence[dict[str, Any]], labels: Iterable[str]
) -> pd.DataFrame:
    """Acts per region and year for each run: label, param_id, seed, region, year, acts."""
    parts = []
    for lab in labels:
        for rep in plan:
            path = run_dir(out, lab, rep["param_id"], rep["seed"])
            if not (path / "by_region.parquet").is_file():
                continue
            meta = read_meta(path)
            frame = pd.read_parquet(path / "by_region.parquet")
            for (code, region), part in frame.groupby(["region_code", "region"], sort=True):
                for year, total in annual_split(
                    part["week_start"], part["acts"], meta["end"]
                ).items():
                    if year in YEARS and covers_year(meta["end"], year):
                        parts.append(
                            {
                                "label": lab,
                                "param_id": rep["param_id"],
                                "seed": rep["seed"],
                                "region_code": str(code),
                                "region": region,
                                "year": year,
                                "acts": total,
                            }
                        )
    return pd.DataFrame(parts)


def weekly_bands(
    out: str | Path, plan: Sequence[dict[str, Any]], label: str, column: str = "acts"
) -> pd.DataFrame:
    """Weekly mean and 5-95% band of one column over the scenario's replicates on disk."""
    series = []
    starts = None
    for rep in plan:
        path = run_dir(out, label, rep["param_id"], rep["seed"])
        if not (path / "weekly.parquet").is_file():
            continue
        frame = pd.read_parquet(path / "weekly.parquet", columns=["week_start", column])
        starts = frame["week_start"] if starts is None else starts
        series.append(frame[column].to_numpy(dtype=float))
    if not series:
        return pd.DataFrame(columns=["week_start", "mean", "low", "high", "n"])
    values = np.vstack(series)
    return pd.DataFrame(
        {
            "week_start": pd.to_datetime(starts),
            "mean": values.mean(axis=0),
            "low": np.quantile(values, LOW_Q, axis=0),
            "high": np.quantile(values, HIGH_Q, axis=0),
            "n": len(series),
        }
    )


# --------------------------------------------------------------------------------------------
# aggregates


def hit_probability(values: Sequence[float], target: float, level: float = 0.90) -> dict:
    """Share of runs reaching the target, with a Jeffreys interval for that share.

    The interval is the probability's own uncertainty from having finitely many runs (a Beta(k +
    1/2, n - k + 1/2) posterior); ``level`` is its coverage (default 90%).
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    n, k = len(v), int(np.sum(v >= target))
    if n == 0:
        return {"n": 0, "hits": 0, "p": float("nan"), "p_low": float("nan"), "p_high": float("nan")}
    a, b = k + 0.5, n - k + 0.5
    low = 0.0 if k == 0 else float(stats.beta.ppf((1 - level) / 2, a, b))
    high = 1.0 if k == n else float(stats.beta.ppf(1 - (1 - level) / 2, a, b))
    return {"n": n, "hits": k, "p": k / n, "p_low": low, "p_high": high}


def interval(values: Sequence[float]) -> dict[str, float]:
    """Mean and 5-95% interval of a sample."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return {"mean": float("nan"), "low": float("nan"), "high": float("nan"), "n": 0}
    return {
        "mean": float(v.mean()),
        "low": float(np.quantile(v, LOW_Q)),
        "high": float(np.quantile(v, HIGH_Q)),
        "n": len(v),
    }


def annual_table(summary: pd.DataFrame, targets: dict[int, float]) -> pd.DataFrame:
    """Per scenario and year: acts mean and 5-95%, target, probability of hitting it."""
    rows = []
    for label, part in summary.groupby("label", sort=False):
        for year in YEARS:
            column = f"acts_{year}"
            if column not in part or part[column].isna().all():
                continue
            row = {"label": label, "year": year, **interval(part[column])}
            if year in targets:
                hit = hit_probability(part[column], targets[year])
                row.update({"target": targets[year], **hit})
            rows.append(row)
    return pd.DataFrame(rows)


def paired_differences(
    summary: pd.DataFrame, reference: str = "baseline", columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """Scenario minus reference on the same (parameter set, seed): mean and 5-95% of differences.

    Pairing removes the noise the two runs share (same doctors, patients, random streams and
    parameters), so the interval is that of the lever's effect, not of the outcome.
    """
    columns = [c for c in (columns or [f"acts_{y}" for y in YEARS]) if c in summary]
    base = summary[summary["label"] == reference].set_index(["param_id", "seed"])
    rows = []
    if base.empty:
        return pd.DataFrame(rows)
    for label, part in summary.groupby("label", sort=False):
        ref = base[columns].rename(columns={c: f"{c}__ref" for c in columns})
        joined = part.set_index(["param_id", "seed"]).join(ref, how="inner")
        for column in columns:
            if column not in joined or joined[column].isna().all():
                continue
            diff = joined[column] - joined[f"{column}__ref"]
            ratio = joined[column] / joined[f"{column}__ref"].where(joined[f"{column}__ref"] > 0)
            rows.append(
                {
                    "label": label,
                    "outcome": column,
                    **interval(diff),
                    "ratio_mean": float(np.nanmean(ratio)) if ratio.notna().any() else np.nan,
                }
            )
    return pd.DataFrame(rows)


def type_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Mean acts by doctor type and year per scenario, with each type's share of the total."""
    rows = []
    for label, part in summary.groupby("label", sort=False):
        for year in YEARS:
            if f"acts_{year}" not in part:
                continue
            total = part[f"acts_{year}"].mean()
            for kind in DOCTOR_TYPES:
                column = f"acts_{kind}_{year}"
                if column in part:
                    mean = part[column].mean()
                    rows.append(
                        {
                            "label": label,
                            "year": year,
                            "doctor_type": kind,
                            "acts": mean,
                            "share": mean / total if total else np.nan,
                        }
                    )
    return pd.DataFrame(rows)


def stock_table(summary: pd.DataFrame, column: str = "adopting_doctors") -> pd.DataFrame:
    """Per scenario and year: a year-end stock (adopting doctors, patients ever), mean and 5-95%."""
    rows = []
    for label, part in summary.groupby("label", sort=False):
        for year in YEARS:
            name = f"{column}_end_{year}"
            if name in part:
                rows.append({"label": label, "year": year, **interval(part[name])})
    return pd.DataFrame(rows)
