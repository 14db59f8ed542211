"""Posterior predictive checks: draws from the posterior, each run on a fresh seed, against the
training figures.

A draw is a parameter set taken from the weighted posterior by systematic resampling (a fixed
generator: the same draws for the same posterior and seed) and run once on its own report seed
(:data:`PREDICTIVE_SEED_BASE` + draw, never a training seed), so the predictive distribution holds
both the parameter uncertainty and the model's own randomness. A figure is *covered* when it lies
inside the 5-95% range of the draws' simulated values; a lower bound ("more than X") is covered
when the range reaches X (its 95% point is at least X). Runs stopped for runaway acts are left out
of the quantiles (and counted). Coverage is reported over the fitted figures, per window, and over
the figures not fitted (the out-of-sample check of ``--until``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Seeds of the predictive runs (apart from the training seeds, 1000+, and report seeds, 5000+).
PREDICTIVE_SEED_BASE = 7000
LEVEL = 0.9


def predictive_seeds(n: int) -> list[int]:
    return [PREDICTIVE_SEED_BASE + i for i in range(n)]


def draw(weights, n: int, seed: int = 0) -> np.ndarray:
    """``n`` particle indices by systematic resampling of ``weights`` (deterministic)."""
    w = np.asarray(weights, dtype=float)
    cum = np.cumsum(w / w.sum())
    cum[-1] = 1.0
    u0 = np.random.default_rng(np.random.SeedSequence([int(seed), 0x9E3779B9])).random()
    return np.searchsorted(cum, (u0 + np.arange(n)) / n, side="right").clip(0, len(w) - 1)


def intervals(targets, sims: np.ndarray, level: float = LEVEL) -> pd.DataFrame:
    """Per target: the predictive interval of the draws and whether it covers the figure."""
    sims = np.asarray(sims, dtype=float).reshape(-1, len(targets))
    ok = ~np.isnan(sims).all(axis=1)
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    rows = []
    for j, t in enumerate(targets):
        col = sims[ok, j]
        col = col[np.isfinite(col)]
        if col.size == 0:
            lo = hi = np.nan
        else:
            lo, hi = (float(v) for v in np.quantile(col, [lo_q, hi_q]))
        covered = (hi >= t.value) if t.bound == "lower" else (lo <= t.value <= hi)
        rows.append(
            {
                "target": t.id,
                "predictive_q05": lo,
                "predictive_q95": hi,
                "covered": bool(covered) if np.isfinite(lo) else False,
            }
        )
    return pd.DataFrame(rows)


def coverage(fit_table: pd.DataFrame) -> dict:
    """Shares of figures covered: fitted (all windows and per window) and not fitted."""

    def share(rows) -> dict | None:
        if not len(rows):
            return None
        return {
            "covered": int(rows.covered.sum()),
            "figures": len(rows),
            "share": float(rows.covered.mean()),
            "missed": [r.target for r in rows.itertuples() if not r.covered],
        }

    fitted = fit_table[fit_table.fitted]
    out = {
        "level": LEVEL,
        "fitted": share(fitted),
        "fitted_by_window": {w: share(g) for w, g in fitted.groupby("window", sort=True)},
    }
    oos = fit_table[~fit_table.fitted]
    if len(oos):
        out["not_fitted"] = share(oos)
        out["not_fitted_by_window"] = {w: share(g) for w, g in oos.groupby("window", sort=True)}
    return out
