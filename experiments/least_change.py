"""Least change: for each continuous or dated lever alone, the smallest move that hits a target.

Each lever is searched along a path ``t ∈ [0, 1]`` from the baseline (``t = 0``: the lever as it
was) to its strongest setting (``t = 1``: largest intensity, earliest date, lowest price). At each
point the experiment's replicates are run (the same parameter sets and seeds as the scenarios, so
the response is a paired, common-random-numbers curve) and, for target year ``y`` and probability
``q``, the response is

    g(t) = log( T_(k) / target ),   T_(k) the k-th largest of the R annual totals, k = ceil(q R),

so ``g(t) >= 0`` exactly when at least a share ``q`` of the runs reach the target (the empirical
hit probability is at least ``q``). The least change is the root of ``g``:

1. ``g(1) < 0``: not reachable with this lever alone (within its allowed range);
2. ``g(0) >= 0``: already reached by the baseline;
3. otherwise bisection, all levers and targets in lockstep (each round is one batch of runs for
   the executor), then ``scipy.optimize.brentq`` on the piecewise-linear interpolant of ``g`` over
   the evaluated points of the final bracket gives the point estimate.

The answer is reported as the bracket ``[t_lo, t_hi]`` turned into lever values (``t_hi`` is known
to reach the target on the runs) and the interpolated root. The search assumes the response is
monotone in ``t``; with common random numbers it nearly is, and the report flags any evaluated
point that contradicts monotonicity.

Every evaluated point is an ordinary run labelled ``lc-<lever>=<value>`` in the experiment's
store (or the scenario whose levers are identical, e.g. ``no_known_patient_rule``), and
``least_change.json`` lists them, so :func:`analyse` recomputes every answer from disk.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize

from infra.atomic import atomic_write_json

from .outcomes import summary_table
from .runner import Design, ExperimentError, RunSpec, execute, read_design, replicate_specs

#: The probabilities the least change is computed for.
LEVELS = (0.5, 0.9)
#: File listing the searches and their evaluated points.
LC_FILE = "least_change.json"
#: Last day of the study horizon: a rule lifted after it changes none of the targets' years.
HORIZON = dt.date(2021, 12, 31)


@dataclass(frozen=True)
class LeverPath:
    """How one lever moves from the baseline (t = 0) to its strongest setting (t = 1)."""

    lever: str
    kind: str  # "float", "int" or "date"
    weak: Any  # value as t -> 0+ (the weakest move that is still a change)
    strong: Any  # value at t = 1
    question: str  # what the least change means, in words

    def value(self, t: float) -> Any:
        """The lever's value at ``t`` (``t = 0`` is the baseline value itself)."""
        from model import Levers

        if t <= 0:
            return getattr(Levers(), self.lever)
        if self.kind == "date":
            weak, strong = _date(self.weak), _date(self.strong)
            days = round((strong - weak).days * t)
            return weak + dt.timedelta(days=days)
        x = float(self.weak) + (float(self.strong) - float(self.weak)) * t
        if self.kind == "int":
            return int(round(x))
        return round(x, 6)

    def text(self, value: Any) -> str:
        """A value as a table shows it."""
        if value is None:
            return "never"
        if isinstance(value, dt.date):
            return value.isoformat()
        if self.kind == "int":
            return f"{int(value):,}"
        return f"{float(value):,.3g}" if abs(float(value)) < 100 else f"{float(value):,.0f}"


def _date(v: Any) -> dt.date:
    return v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v))


#: The levers searched by default: every continuous or dated lever that can move alone.
LEVER_PATHS: tuple[LeverPath, ...] = (
    LeverPath(
        "known_patient_rule_until",
        "date",
        HORIZON,
        dt.date(2018, 9, 15),
        "latest date to lift the 12-month known-patient rule",
    ),
    LeverPath(
        "pathway_rule_until",
        "date",
        HORIZON,
        dt.date(2018, 9, 15),
        "latest date to lift the coordinated-care pathway rule",
    ),
    LeverPath(
        "full_coverage_from",
        "date",
        HORIZON,
        dt.date(2018, 9, 15),
        "latest start of 100% coverage",
    ),
    LeverPath("coverage_rate", "float", 0.7, 1.0, "smallest coverage rate from the start"),
    LeverPath(
        "equipment_subsidy_eur",
        "float",
        525.0,
        10000.0,
        "smallest equipment aid per doctor (EUR, from 1 Jan 2019)",
    ),
    LeverPath(
        "doctolib_launch",
        "date",
        dt.date(2019, 1, 13),
        dt.date(2018, 9, 15),
        "latest Doctolib video launch date",
    ),
    LeverPath("doctolib_price_eur", "float", 79.0, 0.0, "highest Doctolib price (EUR/month)"),
    LeverPath(
        "platforms_free_from",
        "date",
        HORIZON,
        dt.date(2018, 9, 15),
        "latest date platforms become free",
    ),
    LeverPath(
        "awareness_campaign",
        "float",
        0.0,
        5.0,
        "smallest campaign intensity from 15 Sep 2018 (awareness hazard per year)",
    ),
    LeverPath(
        "pharmacy_points",
        "int",
        0,
        30000,
        "fewest extra pharmacy points from 7 Sep 2019",
    ),
    LeverPath(
        "target_deserts", "float", 0.0, 1.0, "smallest desert-targeting intensity from the start"
    ),
    LeverPath(
        "digital_inclusion", "float", 0.0, 1.0, "smallest share of the excluded brought online"
    ),
)
PATHS = {p.lever: p for p in LEVER_PATHS}


def lever_paths(names: Sequence[str] | None = None) -> list[LeverPath]:
    """The searched levers, by name (all of :data:`LEVER_PATHS` by default)."""
    if not names:
        return list(LEVER_PATHS)
    unknown = [n for n in names if n not in PATHS]
    if unknown:
        raise ExperimentError(
            f"--lc-levers: unknown lever(s) {unknown}; searchable: {sorted(PATHS)}"
        )
    return [PATHS[n] for n in names]


# --------------------------------------------------------------------------------------------
# the response and its root


def response(totals: Sequence[float], target: float, level: float) -> float:
    """``g = log(T_(k) / target)``, k = ceil(level·R): >= 0 iff a share >= level hits the target."""
    v = np.sort(np.asarray(totals, dtype=float))[::-1]
    if len(v) == 0:
        return float("nan")
    k = min(len(v), max(1, math.ceil(level * len(v) - 1e-9)))
    return float(np.log(max(v[k - 1], 1e-9) / target))


def bracket(points: dict[float, float]) -> tuple[str, float | None, float | None]:
    """Status and bracket of the root of a (nearly) increasing g from evaluated ``{t: g}``.

    ``("baseline", 0, 0)`` if g(0) >= 0; ``("unreachable", 1, None)`` if g(1) < 0 (or 1 is not
    evaluated yet: ``("pending", ...)``); else ``("bracket", t_lo, t_hi)`` with t_lo the largest
    evaluated t with g < 0 below t_hi, the smallest evaluated t with g >= 0.
    """
    if 0.0 in points and points[0.0] >= 0:
        return "baseline", 0.0, 0.0
    if 1.0 not in points:
        return "pending", None, None
    if points[1.0] < 0:
        return "unreachable", 1.0, None
    t_hi = min(t for t, g in points.items() if g >= 0)
    below = [t for t, g in points.items() if g < 0 and t < t_hi]
    t_lo = max(below) if below else 0.0
    return "bracket", t_lo, t_hi


def interpolated_root(points: dict[float, float], t_lo: float, t_hi: float) -> float:
    """Root of the piecewise-linear interpolant of g between t_lo and t_hi (``brentq``)."""
    ts = sorted(t for t in points if t_lo <= t <= t_hi)
    gs = [points[t] for t in ts]
    if len(ts) < 2 or t_lo == t_hi:
        return t_hi
    g_lo, g_hi = points[t_lo], points[t_hi]
    if not (g_lo < 0 <= g_hi):
        return t_hi

    def f(t: float) -> float:
        return float(np.interp(t, ts, gs))

    return float(optimize.brentq(f, t_lo, t_hi, xtol=1e-6))


def least_change_toy(
    g, *, rounds: int = 12, xtol: float = 1e-3
) -> tuple[str, float | None, float | None, float | None]:
    """The search on a plain function ``g(t)`` (no runs): status, t_lo, t_hi, root estimate.

    Used by the tests to check the algorithm on a monotone toy response.
    """
    points = {0.0: g(0.0), 1.0: g(1.0)}
    for _ in range(rounds):
        status, lo, hi = bracket(points)
        if status != "bracket" or hi - lo <= xtol:
            break
        mid = 0.5 * (lo + hi)
        points[mid] = g(mid)
    status, lo, hi = bracket(points)
    root = interpolated_root(points, lo, hi) if status == "bracket" else lo
    return status, lo, hi, root


# --------------------------------------------------------------------------------------------
# the search over runs


def point_levers(path: LeverPath, t: float) -> dict[str, Any]:
    """The full lever set at point t of a path (every other lever at its baseline)."""
    from model import Levers

    if t <= 0:
        return Levers().to_dict()
    return Levers().replace(**{path.lever: path.value(t)}).to_dict()


def point_label(path: LeverPath, t: float, design: Design) -> str:
    """The run label of a point: an identical scenario's name if there is one, else lc-..."""
    levers = point_levers(path, t)
    for name, sc in design.scenarios.items():
        if not sc.get("uncertainty_overrides") and _same(sc["levers"], levers):
            return name
    if t <= 0:
        return "lc-baseline"
    value = path.value(t)
    text = value.isoformat() if isinstance(value, dt.date) else f"{value:g}"
    return f"lc-{path.lever}={text}"


def _same(a: dict, b: dict) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def _specs(path: LeverPath, t: float, design: Design, plan: list[dict]) -> list[RunSpec]:
    return replicate_specs(point_label(path, t, design), point_levers(path, t), design, plan)


def _record(out: Path) -> dict[str, Any]:
    path = out / LC_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def run_least_change(
    out: str | Path,
    *,
    levers: Sequence[str] | None = None,
    replicates: int | None = None,
    rounds: int = 3,
    xtol: float = 0.02,
    levels: Sequence[float] = LEVELS,
    targets: dict[int, float] | None = None,
    executor=None,
    progress: bool = True,
) -> dict[str, Any]:
    """Search every lever's least change in the experiment folder ``out`` (resuming).

    Uses the folder's design (parameter sets, seeds, end, scale; the first ``replicates`` of its
    replicates). Each round evaluates, in one batch, the next bisection point of every open
    bracket; ``rounds`` bounds the number of rounds after the first (t = 1) and ``xtol`` the
    bracket width in t. Returns the record written to ``least_change.json``.
    """
    from calibration.targets import annual_targets

    out = Path(out)
    design = read_design(out)
    if design is None:
        raise ExperimentError(f"{out}: no experiment here; run the scenarios first")
    targets = targets or annual_targets()
    plan = design.plan[: replicates or len(design.plan)]
    paths = lever_paths(levers)
    years = [y for y in sorted(targets) if pd.Timestamp(design.end).date() >= dt.date(y, 12, 31)]
    evaluated: dict[str, dict[str, str]] = {p.lever: {} for p in paths}  # lever -> {t: label}

    def save_record() -> dict[str, Any]:
        record = {
            "replicates": len(plan),
            "plan": plan,
            "levels": list(levels),
            "targets": {str(y): targets[y] for y in years},
            "rounds": rounds,
            "xtol": xtol,
            "paths": [
                {**dataclasses.asdict(p), "weak": str(p.weak), "strong": str(p.strong)}
                for p in paths
            ],
            "evaluated": evaluated,
        }
        atomic_write_json(out / LC_FILE, record)
        return record

    def evaluate(points: list[tuple[LeverPath, float]], name: str) -> None:
        specs = []
        for path, t in points:
            key = f"{t:.6f}"
            evaluated[path.lever][key] = point_label(path, t, design)
            specs += _specs(path, t, design, plan)
        execute(specs, out, executor, progress=name if progress else False)
        save_record()

    evaluate([(p, 0.0) for p in paths] + [(p, 1.0) for p in paths], "least change t=0,1")
    for r in range(rounds):
        table = _responses(out, evaluated, plan, years, targets, levels)
        proposals: list[tuple[LeverPath, float]] = []
        for path in paths:
            mids = set()
            for year in years:
                for level in levels:
                    status, lo, hi = bracket(table[(path.lever, year, level)])
                    if status == "bracket" and hi - lo > xtol:
                        mids.add(round(0.5 * (lo + hi), 6))
            proposals += [(path, t) for t in sorted(mids)]
        if not proposals:
            break
        evaluate(proposals, f"least change round {r + 1}")
    return save_record()


def _responses(
    out: Path,
    evaluated: dict[str, dict[str, str]],
    plan: list[dict],
    years: Sequence[int],
    targets: dict[int, float],
    levels: Sequence[float],
) -> dict[tuple[str, int, float], dict[float, float]]:
    """g at every evaluated point, from the runs on disk: {(lever, year, level): {t: g}}."""
    labels = sorted({lab for pts in evaluated.values() for lab in pts.values()})
    summary = summary_table(out, plan, labels)
    table: dict[tuple[str, int, float], dict[float, float]] = {}
    for lever, pts in evaluated.items():
        for key, label in pts.items():
            rows = summary[summary["label"] == label] if len(summary) else summary
            for year in years:
                column = f"acts_{year}"
                values = rows[column].to_numpy() if column in rows else np.array([])
                for level in levels:
                    g = response(values, targets[year], level) if len(values) == len(plan) else None
                    if g is not None and np.isfinite(g):
                        table.setdefault((lever, year, level), {})[float(key)] = g
                    else:
                        table.setdefault((lever, year, level), {})
    return table


def uses_sets(out: str | Path, param_ids: set[str]) -> bool:
    """Whether the search on disk used only these parameter sets (else it is stale)."""
    record = _record(Path(out))
    return bool(record) and {rep["param_id"] for rep in record["plan"]} <= param_ids


def analyse(out: str | Path) -> pd.DataFrame:
    """The least-change table recomputed from ``least_change.json`` and the runs on disk.

    One row per lever, target year and probability: status, bracket (in t and in lever values),
    the interpolated estimate, the hit share at the bracket's upper end, and whether the evaluated
    points were monotone.
    """
    out = Path(out)
    record = _record(out)
    if not record:
        return pd.DataFrame()
    plan = record["plan"]
    years = [int(y) for y in record["targets"]]
    targets = {int(y): float(v) for y, v in record["targets"].items()}
    levels = [float(v) for v in record["levels"]]
    table = _responses(out, record["evaluated"], plan, years, targets, levels)
    labels = sorted({lab for pts in record["evaluated"].values() for lab in pts.values()})
    summary = summary_table(out, plan, labels)
    rows = []
    for p in record["paths"]:
        path = PATHS.get(p["lever"]) or LeverPath(
            p["lever"], p["kind"], p["weak"], p["strong"], p["question"]
        )
        for year in years:
            for level in levels:
                points = table[(path.lever, year, level)]
                status, lo, hi = bracket(points)
                root = interpolated_root(points, lo, hi) if status == "bracket" else None
                ts = sorted(points)
                monotone = bool(np.all(np.diff([points[t] for t in ts]) >= -1e-9))
                hit_share = None
                if status in ("bracket", "baseline") and hi is not None:
                    label = record["evaluated"][path.lever].get(f"{hi:.6f}")
                    rows_hi = summary[summary["label"] == label]
                    if len(rows_hi):
                        hit_share = float((rows_hi[f"acts_{year}"] >= targets[year]).mean())
                rows.append(
                    {
                        "lever": path.lever,
                        "question": path.question,
                        "year": year,
                        "target": targets[year],
                        "level": level,
                        "status": status,
                        "t_low": lo,
                        "t_high": hi,
                        "t_estimate": root,
                        "value_low": path.text(path.value(lo)) if lo is not None else None,
                        "value_high": path.text(path.value(hi)) if hi is not None else None,
                        "value_estimate": path.text(path.value(root)) if root is not None else None,
                        "baseline_value": path.text(path.value(0.0)),
                        "strongest_value": path.text(path.value(1.0)),
                        "hit_share_at_high": hit_share,
                        "points": len(points),
                        "monotone": monotone,
                        "replicates": len(plan),
                    }
                )
    return pd.DataFrame(rows)


def compact(lc: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The least-change table in short: one row per lever that reaches at least one target, one
    column per (target year, level) holding the answer in words; and the levers that reach none
    (lever, strongest setting tried), for one line.

    A cell is the setting known to reach the target on the runs, with the interpolated estimate
    (``"2019-06-01 (est. 2019-07-12)"``), ``"baseline hits"``, or ``"–"`` (not alone).
    """
    if lc.empty:
        return pd.DataFrame(), pd.DataFrame(columns=["lever", "strongest_value"])
    keys = sorted({(int(y), float(q)) for y, q in zip(lc["year"], lc["level"], strict=True)})
    reaching, nothing = [], []
    for lever, part in lc.groupby("lever", sort=False):
        if (part["status"] == "unreachable").all():
            nothing.append({"lever": lever, "strongest_value": part["strongest_value"].iloc[0]})
            continue
        row = {"lever": lever, "question": part["question"].iloc[0]}
        for year, level in keys:
            cell = part[(part["year"] == year) & (part["level"] == level)]
            row[f"{year} P≥{level:g}"] = _cell(cell.iloc[0]) if len(cell) else "?"
        reaching.append(row)
    return pd.DataFrame(reaching), pd.DataFrame(nothing, columns=["lever", "strongest_value"])


def _cell(r: pd.Series) -> str:
    flag = "" if r["monotone"] else " (non-monotone)"
    if r["status"] == "baseline":
        return "baseline hits" + flag
    if r["status"] == "bracket":
        same = r["value_estimate"] == r["value_high"]
        return f"{r['value_high']}" + ("" if same else f" (est. {r['value_estimate']})") + flag
    if r["status"] == "unreachable":
        return "–" + flag
    return "not evaluated"
