"""Parameter uncertainty: the ensemble of evaluated parameter sets consistent with the data.

Every parameter set the search evaluated is a candidate, plus a Latin hypercube of sets around
the best (:func:`sample_around`; the search's own sets cluster along its path). A set is kept
when its loss is at most
``max(ABS_THRESHOLD, REL_THRESHOLD * best loss)``: targets missed by at most one tolerance on
average, or no worse than twice the best fit when even the best misses by more. Duplicates are
dropped and, if more than ``MAX_ROWS`` remain, the list is thinned evenly by rank (the best set is
always kept first). This is a set of near-optimal fits, not a Bayesian posterior: the search
visits the good region more densely than a sampler would, so intervals are indicative and tend
to be narrow for parameters the search converged on.

When sets were sampled around the best (the default), the ensemble is the best set plus the
sampled sets that pass the threshold, and a parameter is called *identified* when their 90%
interval covers less than half of the sampling box (+- 3% of the range: the data pin it down at
least locally), *weakly identified* below 80%, and *not identified* when the accepted sets fill
the box. This is a local statement: a parameter can be identified near the best and still trade
off with another far from it (see the correlations). Without sampling, the cut-offs are a quarter
and a half of the searched range. Uncertainties that are not calibrated stay at their default
and are not identified by the 2018-2019 data at all.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from model import Uncertainties

from .objective import SearchSpace

ABS_THRESHOLD = 1.0
REL_THRESHOLD = 2.0
MAX_ROWS = 200
MIN_ROWS = 10  # fewer sets than this: no verdict
IDENTIFIED = 0.25
#: Cut-offs as shares of the sampling box when the ensemble was sampled around the best.
LOCAL_IDENTIFIED = 0.5
LOCAL_WEAKLY = 0.8
WEAKLY = 0.5


def sample_around(
    space: SearchSpace, best: np.ndarray, n: int, spread: float, seed: int = 0
) -> np.ndarray:
    """``n`` search vectors in a Latin hypercube of +- ``spread`` of each range around ``best``
    (clipped to the bounds): the candidates of the rejection step."""
    from scipy.stats import qmc

    lo, hi = np.array(space.low), np.array(space.high)
    half = spread * (hi - lo)
    a, b = np.maximum(lo, best - half), np.minimum(hi, best + half)
    u = qmc.LatinHypercube(d=len(lo), seed=np.random.default_rng([seed, 1])).random(n)
    return a + u * (b - a)


def threshold(best: float) -> float:
    return max(ABS_THRESHOLD, REL_THRESHOLD * best)


def select(
    space: SearchSpace,
    xs: np.ndarray,
    fs: np.ndarray,
    base: dict,
    max_rows: int = MAX_ROWS,
    candidates: np.ndarray | None = None,
) -> pd.DataFrame:
    """The ensemble: one column per Uncertainties field (all of them) and ``loss``, best first.

    ``xs`` are search vectors (search coordinates), ``fs`` their losses; ``base`` holds the values
    of the fields not searched. ``candidates`` (a boolean mask) restricts the ensemble to the best
    set plus those sets (the ones sampled around the best), when at least ``MIN_ROWS`` of them
    pass the threshold.
    """
    xs = np.asarray(xs, dtype=float)
    fs = np.asarray(fs, dtype=float)
    if candidates is not None:
        candidates = np.asarray(candidates, dtype=bool)
        best = int(np.argmin(np.where(np.isfinite(fs), fs, np.inf)))
        passing = candidates & (fs <= threshold(float(fs[best])))
        if passing.sum() >= MIN_ROWS:
            keep_mask = candidates.copy()
            keep_mask[best] = True
            xs, fs = xs[keep_mask], fs[keep_mask]
    ok = np.isfinite(fs)
    xs, fs = xs[ok], fs[ok]
    order = np.lexsort((np.arange(fs.size), fs))  # by loss, ties by evaluation order
    xs, fs = xs[order], fs[order]
    keep = fs <= threshold(float(fs[0]))
    xs, fs = xs[keep], fs[keep]
    span = np.array([hi - lo for lo, hi in space.bounds])
    _, first = np.unique(np.round((xs - np.array(space.low)) / span, 9), axis=0, return_index=True)
    first = np.sort(first)
    xs, fs = xs[first], fs[first]
    if fs.size > max_rows:
        idx = np.unique(np.round(np.linspace(0, fs.size - 1, max_rows)).astype(int))
        xs, fs = xs[idx], fs[idx]
    defaults = Uncertainties().to_dict()
    rows = []
    for x, f in zip(xs, fs, strict=True):
        values = {**defaults, **base, **space.values(x)}
        rows.append({**values, "loss": float(f)})
    return pd.DataFrame(rows, columns=[*defaults, "loss"])


def summary(space: SearchSpace, ensemble: pd.DataFrame, box: float | None = None) -> pd.DataFrame:
    """Per parameter: best value, 5-95% interval, searched range and an identification verdict.

    With ``box`` (the ensemble was sampled within +- ``box`` of each range around the best), the
    interval is judged against the box instead of the whole range: a parameter whose accepted
    sets fill the box is not pinned down even locally; one confined to under half of it is.
    """
    rows = []
    for name, lo, hi, lg in zip(space.names, space.low, space.high, space.log, strict=True):
        v = ensemble[name].to_numpy(dtype=float)
        s = np.log10(v) if lg else v
        q05, q50, q95 = np.quantile(s, [0.05, 0.5, 0.95])
        width = (q95 - q05) / (hi - lo)
        if box is None:
            cut_id, cut_weak = IDENTIFIED, WEAKLY
        else:
            # the sampling box around the best (row 0), clipped to the range as sampled
            half = box * (hi - lo)
            inside = (min(hi, s[0] + half) - max(lo, s[0] - half)) / (hi - lo)
            cut_id, cut_weak = LOCAL_IDENTIFIED * inside, LOCAL_WEAKLY * inside
        verdict = (
            "undetermined (too few sets)"
            if len(ensemble) < MIN_ROWS
            else "identified"
            if width < cut_id
            else "weakly identified"
            if width < cut_weak
            else "not identified"
        )
        back = (lambda z: 10.0**z) if lg else (lambda z: z)
        rows.append(
            {
                "parameter": name,
                "best": float(v[0]),
                "median": float(back(q50)),
                "q05": float(back(q05)),
                "q95": float(back(q95)),
                "low": float(back(lo)),
                "high": float(back(hi)),
                "scale": "log10" if lg else "linear",
                "interval_share_of_range": float(width),
                "verdict": verdict,
            }
        )
    return pd.DataFrame(rows)


def correlations(space: SearchSpace, ensemble: pd.DataFrame) -> pd.DataFrame:
    """Rank (Spearman) correlations of the searched parameters across the ensemble."""
    cols = list(space.names)
    if len(ensemble) < 3:
        return pd.DataFrame(np.nan, index=cols, columns=cols)
    return ensemble[cols].rank().corr()


def strong_pairs(corr: pd.DataFrame, cutoff: float = 0.6) -> list[tuple[str, str, float]]:
    """Pairs of parameters that trade off against each other (|rank correlation| >= cutoff)."""
    out = []
    names = list(corr.columns)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            r = corr.loc[a, b]
            if np.isfinite(r) and abs(r) >= cutoff:
                out.append((a, b, float(r)))
    return sorted(out, key=lambda t: -abs(t[2]))
