"""Sensitivity of the 2019 total to the uncertainties: Morris screening or Sobol indices.

Which uncertainties drive the 2019 total, within the range the calibration left open? The factors
are the calibrated uncertainties; each varies over the 5-95% range of the calibration posterior
(weighted quantiles; the ensemble when there is no posterior; without either, the best value
×/÷ 1.25 for positive rates, ± 5% of the allowed width for log-odds effects), the others staying
at the best set. Runs stop on 31 Dec 2019 (the only year the question needs, three
times cheaper than a run to 2021) and share one seed, so differences come from the parameters.
The outcome is ``log10`` of the 2019 total: effects are multiplicative factors on the total.

* ``morris`` (default, cheap): ``r`` one-at-a-time trajectories on a 4-level grid, elementary
  effects per factor; ``mu_star`` (mean absolute effect) with a bootstrap 90% interval over
  trajectories, ``mu`` and ``sigma`` (interaction or non-linearity). ``r (d + 1)`` runs.
* ``sobol``: first-order and total indices with ``scipy.stats.sobol_indices`` (Saltelli design
  from a scrambled Sobol' sequence) and its bootstrap 90% intervals; ``n (d + 2)`` runs.

The design (``sensitivity.json``) and every run are on disk; :func:`analyse` recomputes the
indices from them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.stats import qmc

from infra.atomic import atomic_write_json

from .outcomes import summary_table
from .runner import (
    DEFAULT_ROOT_SEED,
    ExperimentError,
    RunSpec,
    _values_hash,
    execute,
    load_parameter_sets,
    replicate_seed,
    weight_or_one,
)

SA_FILE = "sensitivity.json"
#: The 2019 total only: runs stop at the end of 2019.
SA_END = "2019-12-31"
OUTCOME = "acts_2019"
#: Spawn key of the sensitivity sampling stream (apart from replicates and ensemble draws).
_SA_KEY = 2**31 + 1
#: Morris grid: 4 levels, step 2/3 of the range.
MORRIS_LEVELS = 4
DELTA = MORRIS_LEVELS / (2 * (MORRIS_LEVELS - 1))
#: Without an ensemble: positive rates and scales vary by this factor either way around the best
#: value, log-odds effects by ± this share of their allowed width.
FALLBACK_FACTOR = 1.25
FALLBACK_HALF_WIDTH = 0.05


def factor_ranges(params: str | Path = "posterior") -> tuple[list[dict[str, Any]], dict, str]:
    """Factors (name, low, high), the base values (best set) and where the ranges come from."""
    from model import Uncertainties, best_uncertainties

    best = best_uncertainties()[0].to_dict()
    specs = [s for s in Uncertainties.specs() if s.get("calibrate")]
    sets, note = load_parameter_sets(params)
    factors = []
    if len(sets) >= 5:
        table = pd.DataFrame([s.values for s in sets])
        weights = np.array([weight_or_one(s.weight) for s in sets])
        weighted = any(s.weight is not None for s in sets)
        source = f"5-95% range of the {len(sets)} " + (
            "posterior sets (weighted)" if weighted else "ensemble sets"
        )
        for s in specs:
            low, high = _weighted_quantiles(table[s["name"]].to_numpy(float), weights, [0.05, 0.95])
            if high - low > 1e-9 * max(1.0, abs(high)):
                factors.append({"name": s["name"], "low": float(low), "high": float(high)})
    else:
        source = (
            f"best value ×/÷ {FALLBACK_FACTOR} for positive rates and scales, ± "
            f"{FALLBACK_HALF_WIDTH:.0%} of the allowed width for log-odds effects "
            f"(no ensemble of at least 5 sets: {note})"
        )
        for s in specs:
            centre = best[s["name"]]
            if s["low"] >= 0 and centre > 0:  # a rate or scale: a factor of 1.25 either way
                low, high = centre / FALLBACK_FACTOR, centre * FALLBACK_FACTOR
            else:  # a log-odds effect: a share of the allowed width
                width = FALLBACK_HALF_WIDTH * (s["high"] - s["low"])
                low, high = centre - width, centre + width
            low, high = max(s["low"], low), min(s["high"], high)
            if high > low:
                factors.append({"name": s["name"], "low": float(low), "high": float(high)})
    if not factors:
        raise ExperimentError("sensitivity: no uncertainty varies over the chosen ranges")
    return factors, best, source


def _weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs) -> np.ndarray:
    """Quantiles of a weighted sample (equal weights: numpy's default quantiles)."""
    if np.allclose(weights, weights[0]):
        return np.quantile(values, qs)
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    cdf = (np.cumsum(w) - 0.5 * w) / w.sum()
    return np.interp(qs, cdf, v)


def morris_design(d: int, trajectories: int, rng: np.random.Generator) -> np.ndarray:
    """``(r, d + 1, d)`` points in the unit cube: each trajectory moves one factor at a time."""
    out = np.empty((trajectories, d + 1, d))
    for j in range(trajectories):
        x = rng.integers(0, MORRIS_LEVELS // 2, size=d) / (MORRIS_LEVELS - 1)
        out[j, 0] = x
        for k, i in enumerate(rng.permutation(d)):
            x = x.copy()
            x[i] += DELTA
            out[j, k + 1] = x
    return out


def morris_indices(
    design: np.ndarray, y: np.ndarray, names: Sequence[str], seed: int, resamples: int = 2000
) -> pd.DataFrame:
    """mu*, mu, sigma per factor, and a bootstrap 90% interval of mu* over trajectories."""
    r, _, d = design.shape
    effects = np.empty((r, d))
    for j in range(r):
        step = np.diff(design[j], axis=0)  # (d, d): one non-zero per row
        moved = np.argmax(np.abs(step), axis=1)
        effects[j, moved] = np.diff(y[j]) / step[np.arange(d), moved]
    rng = np.random.default_rng(seed)
    boot = np.abs(effects[rng.integers(0, r, size=(resamples, r))]).mean(axis=1)
    return pd.DataFrame(
        {
            "factor": list(names),
            "mu_star": np.abs(effects).mean(axis=0),
            "mu_star_low": np.quantile(boot, 0.05, axis=0),
            "mu_star_high": np.quantile(boot, 0.95, axis=0),
            "mu": effects.mean(axis=0),
            "sigma": effects.std(axis=0, ddof=1) if r > 1 else np.zeros(d),
        }
    ).sort_values("mu_star", ascending=False, ignore_index=True)


def sobol_design(d: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A, B ``(d, n)`` and AB ``(d, d, n)`` (AB[i] = A with row i from B), as scipy expects."""
    if n < 2 or n & (n - 1):
        raise ExperimentError(f"--sobol-n: {n} must be a power of 2 (at least 2)")
    base = qmc.Sobol(d=2 * d, scramble=True, seed=seed).random(n)
    a, b = base[:, :d].T.copy(), base[:, d:].T.copy()
    ab = np.tile(a, (d, 1, 1))
    ab[np.arange(d), np.arange(d)] = b
    return a, b, ab


def _values(unit: np.ndarray, factors: list[dict], best: dict) -> dict[str, Any]:
    values = dict(best)
    for u, f in zip(unit, factors, strict=True):
        values[f["name"]] = float(f["low"] + u * (f["high"] - f["low"]))
    return values


def _points(record: dict) -> list[tuple[str, np.ndarray]]:
    """(point id, unit-cube point) for every run of the design, in a fixed order."""
    d = len(record["factors"])
    if record["method"] == "morris":
        design = np.asarray(record["unit_design"], dtype=float).reshape(-1, d + 1, d)
        return [
            (f"m{j:03d}-{k:02d}", design[j, k])
            for j in range(design.shape[0])
            for k in range(d + 1)
        ]
    a, b, ab = sobol_design(d, record["n"], record["sample_seed"])
    pts = [(f"A{k:04d}", a[:, k]) for k in range(record["n"])]
    pts += [(f"B{k:04d}", b[:, k]) for k in range(record["n"])]
    pts += [(f"AB{i:02d}-{k:04d}", ab[i, :, k]) for i in range(d) for k in range(record["n"])]
    return pts


def _specs(record: dict) -> list[RunSpec]:
    from model import Levers

    specs = []
    for pid, unit in _points(record):
        values = _values(unit, record["factors"], record["best"])
        specs.append(
            RunSpec(
                label=f"sensitivity-{record['method']}",
                param_id=f"{pid}-{_values_hash(values)}",
                seed=record["seed"],
                levers=Levers().to_dict(),
                uncertainties=values,
                end=SA_END,
                scale=record["scale"],
                tables=("weekly",),
            )
        )
    return specs


def run_sensitivity(
    out: str | Path,
    *,
    method: str = "morris",
    trajectories: int = 4,
    n: int = 16,
    params: str | Path = "posterior",
    root_seed: int = DEFAULT_ROOT_SEED,
    scale: int | None = None,
    executor=None,
    progress: bool = True,
) -> dict[str, Any]:
    """Build the design, run what is not on disk, write ``sensitivity.json``; return the record."""
    if method not in ("morris", "sobol"):
        raise ExperimentError(f"--sensitivity: {method!r} is not one of ['morris', 'sobol']")
    out = Path(out)
    factors, best, source = factor_ranges(params)
    d = len(factors)
    ss = np.random.SeedSequence(root_seed, spawn_key=(_SA_KEY,))
    record: dict[str, Any] = {
        "method": method,
        "outcome": f"log10({OUTCOME})",
        "end": SA_END,
        "scale": scale,
        "seed": replicate_seed(root_seed, 0),
        "root_seed": root_seed,
        "factors": factors,
        "ranges_from": source,
        "best": best,
    }
    if method == "morris":
        design = morris_design(d, trajectories, np.random.default_rng(ss))
        record.update({"trajectories": trajectories, "unit_design": design.ravel().tolist()})
    else:
        record.update({"n": n, "sample_seed": int(ss.generate_state(1)[0])})
    specs = _specs(record)
    record["runs"] = [s.param_id for s in specs]
    atomic_write_json(out / SA_FILE, record)
    execute(specs, out, executor, progress=f"sensitivity ({method})" if progress else False)
    return record


def analyse(out: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The indices recomputed from ``sensitivity.json`` and the runs on disk."""
    out = Path(out)
    path = out / SA_FILE
    if not path.is_file():
        return pd.DataFrame(), {}
    record = json.loads(path.read_text(encoding="utf-8"))
    label = f"sensitivity-{record['method']}"
    plan = [{"param_id": pid, "seed": record["seed"]} for pid in record["runs"]]
    summary = summary_table(out, plan, [label]).set_index("param_id")
    missing = [pid for pid in record["runs"] if pid not in summary.index]
    if missing:
        raise ExperimentError(
            f"{path}: {len(missing)} sensitivity runs are not on disk; re-run the experiment "
            "with the same sensitivity options to finish them"
        )
    y = np.log10(np.maximum(summary.loc[record["runs"], OUTCOME].to_numpy(dtype=float), 1.0))
    names = [f["name"] for f in record["factors"]]
    d = len(names)
    info = {k: record[k] for k in ("method", "outcome", "ranges_from", "end", "scale")}
    info["runs"] = len(record["runs"])
    info["factors"] = record["factors"]
    if record["method"] == "morris":
        design = np.asarray(record["unit_design"], dtype=float).reshape(-1, d + 1, d)
        table = morris_indices(design, y.reshape(-1, d + 1), names, seed=record["root_seed"])
        info["trajectories"] = record["trajectories"]
        return table, info
    n = record["n"]
    f_a, f_b = y[:n], y[n : 2 * n]
    f_ab = y[2 * n :].reshape(d, n)
    fa, fb, fab = f_a[None, :], f_b[None, :], f_ab[:, None, :]
    res = stats.sobol_indices(func={"f_A": fa, "f_B": fb, "f_AB": fab}, n=n)

    def statistic(idx: np.ndarray) -> np.ndarray:
        idx = idx.astype(int)
        sub = {"f_A": fa[:, idx], "f_B": fb[:, idx], "f_AB": fab[..., idx]}
        r = stats.sobol_indices(func=sub, n=len(idx))
        return np.concatenate([np.ravel(r.first_order), np.ravel(r.total_order)])

    # scipy's SobolResult.bootstrap takes no seed: resample here instead,
    # with a seeded generator, so re-running the report gives the same intervals.
    boot = stats.bootstrap(
        (np.arange(n, dtype=float),),
        statistic,
        vectorized=False,
        n_resamples=999,
        confidence_level=0.9,
        method="percentile",
        rng=np.random.default_rng(record["root_seed"]),
    )
    low, high = boot.confidence_interval.low, boot.confidence_interval.high
    table = pd.DataFrame(
        {
            "factor": names,
            "first_order": np.ravel(res.first_order),
            "first_low": low[:d],
            "first_high": high[:d],
            "total_order": np.ravel(res.total_order),
            "total_low": low[d:],
            "total_high": high[d:],
        }
    ).sort_values("total_order", ascending=False, ignore_index=True)
    info["n"] = n
    info["variance_log10"] = float(np.var(np.concatenate([f_a, f_b])))
    return table, info


__all__ = [
    "analyse",
    "factor_ranges",
    "morris_design",
    "morris_indices",
    "run_sensitivity",
    "sobol_design",
]
