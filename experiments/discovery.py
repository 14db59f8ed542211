"""Scenario discovery: under which conditions is each target hit? PRIM boxes over uncertainties
and levers.

The design crosses the two sources of variation a policy analyst cares about: the levers of the
cheapest-package search space (:data:`experiments.cheapest.SEARCH_SPACE`, a Latin hypercube over
their range from cheapest to strongest) and the calibration's uncertainty (each sample draws a
parameter set from the experiment's, in proportion to its weight:
:func:`experiments.runner.draw_parameter_sets`), with a seed of its own. One run per sample;
the outcome is whether the year's acts reach the target.

PRIM (Friedman & Fisher 1999; EMA Workbench's implementation, ``ema_workbench.analysis.prim``)
peels the box of the input space whose runs hit most often. For each target the report gives the
box chosen on the peeling trajectory (the highest *coverage*, the share of all hits inside the
box, among boxes whose *density*, the share of hits among the runs in the box, reaches the goal;
else the densest box), with the limits of the dimensions it restricts. Levers are shown as lever
values, uncertainties as their own values.

Every run is saved as it finishes (``runs/sd-<hash>/<parameter set>/seed-<seed>/``) and
``discovery.json`` records the design, so an interrupted design resumes and :func:`analyse`
recomputes the boxes from disk.
"""

from __future__ import annotations

import datetime as dt
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from infra.atomic import atomic_write_json

from .cheapest import DIMENSIONS, Dimension, package_label, package_levers, search_space
from .outcomes import summarise_runs
from .runner import (
    ExperimentError,
    RunSpec,
    draw_parameter_sets,
    execute,
    read_design,
    replicate_seed,
    run_dir,
)

SD_FILE = "discovery.json"
#: Spawn key of the design's random stream (apart from replicates, ensemble draws, other searches).
_SD_KEY = 2**31 + 3
#: Box density sought on the peeling trajectory.
DENSITY_GOAL = 0.8


def _prim():
    """EMA Workbench's PRIM, or a clear error naming the extra to install."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its optional parallel back ends
            from ema_workbench.analysis import prim
    except ImportError:
        raise ExperimentError(
            "scenario discovery needs EMA Workbench: pip install -e '.[decision]'"
        ) from None
    return prim


def run_discovery(
    out: str | Path,
    *,
    samples: int = 160,
    levers: Sequence[str] | None = None,
    seed: int | None = None,
    executor=None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the discovery design in the experiment folder ``out`` (resuming); record it."""
    from scipy.stats import qmc

    out = Path(out)
    design = read_design(out)
    if design is None:
        raise ExperimentError(f"{out}: no experiment here; run the scenarios first")
    if samples < 2:
        raise ExperimentError(f"--sd-samples: {samples} is below 2")
    dims = search_space(levers)
    seed = design.root_seed if seed is None else seed
    stream = np.random.SeedSequence(seed, spawn_key=(_SD_KEY,))
    rng = np.random.default_rng(stream)
    lhs = qmc.LatinHypercube(d=len(dims), seed=rng).random(samples)
    param_ids = draw_parameter_sets(design.param_sets, samples, rng)
    rows, specs = [], []
    for i, (u, pid) in enumerate(zip(lhs, param_ids, strict=True)):
        lev = package_levers(dims, u)
        label = package_label(lev, "sd")
        run_seed = replicate_seed(seed, _SD_KEY + 1 + i)
        rows.append({"label": label, "param_id": pid, "seed": run_seed})
        specs.append(
            RunSpec(
                label=label,
                param_id=pid,
                seed=run_seed,
                levers=lev,
                uncertainties=design.param_sets[pid]["values"],
                end=design.end,
                scale=design.scale,
                tables=("weekly",),
            )
        )
    record = {
        "samples": rows,
        "seed": seed,
        "dimensions": [d.lever for d in dims],
    }
    atomic_write_json(out / SD_FILE, record)
    execute(specs, out, executor, progress="scenario discovery" if progress else False)
    return record


# --------------------------------------------------------------------------------------------
# the boxes


def uses_sets(out: str | Path, param_ids: set[str]) -> bool:
    """Whether a design is on disk and drew only from these parameter sets (else it is stale)."""
    path = Path(out) / SD_FILE
    if not path.is_file():
        return False
    record = json.loads(path.read_text(encoding="utf-8"))
    return {s["param_id"] for s in record["samples"]} <= param_ids


def design_table(out: str | Path) -> tuple[pd.DataFrame, list[Dimension], list[str]]:
    """The design read back from disk: one row per finished sample with the levers' positions
    (``u`` in [0, 1]), the uncertainties that vary across samples, acts per year; and the
    dimensions and uncertainty names."""
    from model import Uncertainties

    out = Path(out)
    path = out / SD_FILE
    if not path.is_file():
        return pd.DataFrame(), [], []
    record = json.loads(path.read_text(encoding="utf-8"))
    dims = [DIMENSIONS[n] for n in record["dimensions"] if n in DIMENSIONS]
    runs = [run_dir(out, s["label"], s["param_id"], s["seed"]) for s in record["samples"]]
    runs = [p for p in runs if (p / "metadata.json").is_file()]
    if not runs:
        return pd.DataFrame(), dims, []
    summary = summarise_runs(runs)
    unc_rows, lever_rows = [], []
    for p in runs:
        meta = json.loads((p / "metadata.json").read_text(encoding="utf-8"))
        unc_rows.append(meta["uncertainties"])
        lever_rows.append({d.lever: d.position(meta["levers"][d.lever]) for d in dims})
    names = [s["name"] for s in Uncertainties.specs() if s["type"] == "float"]
    unc = pd.DataFrame(unc_rows)[[n for n in names if n in unc_rows[0]]]
    varying = [c for c in unc.columns if unc[c].nunique() > 1]
    table = pd.concat([pd.DataFrame(lever_rows), unc[varying], summary], axis=1)
    return table, dims, varying


def prim_box(
    x: pd.DataFrame, y: np.ndarray, density_goal: float = DENSITY_GOAL, **kwargs: Any
) -> dict[str, Any] | None:
    """The first PRIM box of ``y`` (booleans) over ``x``, chosen on the peeling trajectory: the
    highest coverage among steps whose density reaches ``density_goal`` (raised to half way from
    the hit share to 1 when the hit share is above it), else the densest step.

    Returns coverage, density, mass, the number of runs in it, and ``limits``: ``{column: (low,
    high)}`` for the restricted columns only, ``None`` for a side left at the data's bound. None
    when ``y`` is all true or all false.
    """
    y = np.asarray(y, dtype=bool)
    if y.all() or not y.any():
        return None
    # a goal the whole space already meets says nothing: ask for half the way to certainty
    density_goal = max(density_goal, 0.5 * (1.0 + float(y.mean())))
    prim = _prim()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # binary outcome: the cases of interest are y >= 0.5, i.e. the hits
        finder = prim.Prim(x.reset_index(drop=True), y.astype(int), threshold=0.5, **kwargs)
        box = finder.find_box()
    trajectory = box.peeling_trajectory
    ok = trajectory[trajectory["density"] >= density_goal - 1e-12]
    if len(ok):
        step = int(ok.sort_values(["coverage", "density"], ascending=False).index[0])
    else:
        step = int(trajectory.sort_values(["density", "coverage"], ascending=False).index[0])
    lims = box.box_lims[step]
    init = finder.box_init
    limits = {}
    for column in x.columns:
        low, high = float(lims.loc[0, column]), float(lims.loc[1, column])
        cut_low, cut_high = low > float(init.loc[0, column]), high < float(init.loc[1, column])
        if cut_low or cut_high:
            limits[column] = (low if cut_low else None, high if cut_high else None)
    row = trajectory.loc[step]
    return {
        "coverage": float(row["coverage"]),
        "density": float(row["density"]),
        "mass": float(row["mass"]),
        "runs_in_box": int(row["n"]),
        "limits": limits,
        "step": step,
        "met_goal": bool(len(ok)),
    }


def analyse(
    out: str | Path, targets: dict[int, float] | None = None, density_goal: float = DENSITY_GOAL
) -> pd.DataFrame:
    """One row per target year: runs, hit share of the design, and the PRIM box (coverage,
    density, mass, runs in it, restricted dimensions in words)."""
    from calibration.targets import annual_targets

    table, dims, varying = design_table(out)
    if table.empty:
        return pd.DataFrame()
    targets = targets or annual_targets()
    by_lever = {d.lever: d for d in dims}
    x = table[[d.lever for d in dims] + varying]
    rows = []
    for year, target in sorted(targets.items()):
        column = f"acts_{year}"
        if column not in table:
            continue
        y = (table[column] >= target).to_numpy()
        row: dict[str, Any] = {
            "year": year,
            "target": target,
            "runs": len(table),
            "hit_share": float(y.mean()),
        }
        box = prim_box(x, y, density_goal)
        if box is not None:
            limits = box.pop("limits")
            row.update(box)
            row["restricted"] = len(limits)
            row["box"] = "; ".join(
                _limit_text(name, low, high, by_lever.get(name))
                for name, (low, high) in limits.items()
            )
        rows.append(row)
    return pd.DataFrame(rows)


def _limit_text(name: str, low: float | None, high: float | None, dim: Dimension | None) -> str:
    """A restricted dimension in words: a lever in its own values (dates: ``by`` a date, ``not
    before`` a date), an uncertainty as a range; ``None`` is a side left open."""
    if dim is None:
        if low is not None and high is not None:
            return f"`{name}` {low:.3g} … {high:.3g}"
        return f"`{name}` ≥ {low:.3g}" if low is not None else f"`{name}` ≤ {high:.3g}"
    if dim.kind in ("date", "optional date"):  # a larger u is an earlier date
        parts = []
        if low is not None:
            parts.append(f"by {_show(dim.value(low))}")
        if high is not None:
            parts.append(f"not before {_show(dim.value(high))}")
        return f"`{name}` " + " and ".join(parts)
    if low is not None and high is not None:
        return f"`{name}` {_show(dim.value(low))} … {_show(dim.value(high))}"
    if low is not None:
        return f"`{name}` ≥ {_show(dim.value(low))}"
    return f"`{name}` ≤ {_show(dim.value(high))}"


def _show(v: Any) -> str:
    if v is None:
        return "never"
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"
    return f"{v:,}" if isinstance(v, int) else str(v)
