"""The calibration loss: a weighted mean of squared, standardised errors, one term per target.

Each term is ``weight * (error / tolerance)**2``; the loss is their weighted mean, so a loss of 1
means the targets are, on average, missed by one tolerance.

* **Counts** (acts, patients, doctors) are compared on the log scale, ``log(sim / obs)``: the
  counts span three orders of magnitude, and the sources' rounding is relative ("about 2,000").
* **Lower bounds** ("more than 60,000") penalise only a shortfall: ``min(0, log(sim / obs))``.
* **Shares** are compared as differences of fractions, ``sim - obs``.

Tolerances and weights (explicit, and the only place they are set):

=====================  =========  ==============================================================
term                   tolerance  why
=====================  =========  ==============================================================
count, ``point``       0.10       an exact CNAM count; 10% allows for the model's own noise
count, ``approx``      0.15       a rounded figure ("about 3,300")
count, ``lower``       0.05       one-sided: a shortfall of 5% costs as much as a 10% point miss
share, ``point``       0.03       three percentage points
share, ``approx``      0.05       a rounded share ("two thirds", "about 15%")
=====================  =========  ==============================================================

Weights are 1 except: ``s_doctolib_2019_09`` 0.5 (a platform's own claim, not a CNAM count) and
``m_aug2019`` 0.5 (the lower bound is implied by ``m_aug2019_approx`` for the same month: half
weight so that month is not counted twice).
"""

from __future__ import annotations

import numpy as np

from .targets import Target

TOLERANCE = {
    ("count", "point"): 0.10,
    ("count", "approx"): 0.15,
    ("count", "lower"): 0.05,
    ("share", "point"): 0.03,
    ("share", "approx"): 0.05,
    ("share", "lower"): 0.03,
}
WEIGHT_OVERRIDES = {"s_doctolib_2019_09": 0.5, "m_aug2019": 0.5}
#: The smallest simulated count used on the log scale (a run with no acts still gets a finite,
#: large error instead of -inf).
COUNT_FLOOR = 0.5
#: Loss for a parameter set whose run failed or produced no comparable value.
FAILED = 1e6


def tolerance(t: Target) -> float:
    """How far off a simulated value may be before its term reaches 1."""
    return TOLERANCE[("count" if t.is_count else "share", t.bound)]


def weight(t: Target) -> float:
    """The weight of a target's term (1 unless documented in the module docstring)."""
    return WEIGHT_OVERRIDES.get(t.id, 1.0)


def errors(targets: list[Target], simulated: np.ndarray) -> np.ndarray:
    """Raw error of each target: log ratio for counts, difference for shares; lower bounds only
    count a shortfall."""
    sim = np.asarray(simulated, dtype=float)
    out = np.empty(len(targets))
    for i, t in enumerate(targets):
        if t.is_count:
            e = np.log(max(sim[i], COUNT_FLOOR) / t.value) if np.isfinite(sim[i]) else np.nan
        else:
            e = sim[i] - t.value
        if t.bound == "lower":
            e = min(0.0, e)
        out[i] = e
    return out


def z_scores(targets: list[Target], simulated: np.ndarray) -> np.ndarray:
    """Errors in units of each target's tolerance."""
    return errors(targets, simulated) / np.array([tolerance(t) for t in targets])


def loss(targets: list[Target], simulated: np.ndarray) -> float:
    """Weighted mean of squared z-scores over the targets the simulation can say something on.

    Targets whose simulated value is NaN (not produced by this model, e.g. shares for the Bass
    baseline) are left out; if none is left the loss is :data:`FAILED`.
    """
    z = z_scores(targets, simulated)
    w = np.array([weight(t) for t in targets])
    ok = np.isfinite(z)
    if not ok.any():
        return FAILED
    return float((w[ok] * z[ok] ** 2).sum() / w[ok].sum())


def count_log_rmse(targets: list[Target], simulated: np.ndarray) -> float:
    """Root mean squared log error over the point and approximate count targets (the closing
    note's headline figure; lower bounds are reported as met or not)."""
    e = errors(targets, simulated)
    sel = [i for i, t in enumerate(targets) if t.is_count and t.bound != "lower"]
    vals = e[sel]
    vals = vals[np.isfinite(vals)]
    return float(np.sqrt(np.mean(vals**2))) if vals.size else float("nan")
