"""Identifiability: how far the data narrow each parameter, and which parameters trade off.

All figures are computed in search coordinates (log10 for the log-scaled parameters), against the
*uniform* prior ranges (a stage-B run's earlier parameters are also judged against their original
uniform range, not against the stage-A posterior that served as their prior: the table says what
all the data together say). Per parameter:

* ``posterior_median``, ``q05``, ``q95``: weighted quantiles of the particles (a 90% credible
  interval), shown on the parameter's natural scale;
* ``width_ratio``: the 90% credible interval's width over the prior's own 90% width (0.9 of the
  range): 1 means the data say nothing, 0.1 that they pin the parameter to a tenth of what the
  prior allowed;
* ``contraction``: ``1 - posterior variance / prior variance`` (Schad, Betancourt and Vasishth,
  2021), 0 for no information, 1 for a point;
* ``verdict``: *identified* when the width ratio is below :data:`IDENTIFIED`, *weakly identified*
  below :data:`WEAKLY`, else *not identified*.

Correlations are weighted Pearson correlations of the particles (search coordinates); pairs with
``|r| >`` :data:`STRONG` are flagged: they trade off against each other (a ridge in the posterior),
so either one should be fixed with a written reason or the pair reparameterised (their sum, their
ratio) before reading either alone.

How to read it: a narrow interval with a high correlation means the data fix a combination, not
each parameter; a width ratio near 1 means the posterior is the prior (the parameter's value in
experiments is an assumption, carried as uncertainty).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

IDENTIFIED = 0.5
WEAKLY = 0.8
STRONG = 0.7


def weighted_quantile(values, weights, qs) -> np.ndarray:
    """Quantiles of a weighted sample (the weighted empirical CDF, interpolated at mid-steps)."""
    v = np.asarray(values, dtype=float)
    w = np.asarray(weights, dtype=float)
    order = np.argsort(v, kind="stable")
    v, w = v[order], w[order]
    cdf = (np.cumsum(w) - 0.5 * w) / w.sum()
    return np.interp(np.asarray(qs, dtype=float), cdf, v)


def weighted_corr(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    w = np.asarray(w, dtype=float) / np.sum(w)
    d = x - w @ x
    cov = (d * w[:, None]).T @ d
    sd = np.sqrt(np.maximum(np.diag(cov), 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return cov / np.outer(sd, sd)


def table(posterior) -> pd.DataFrame:
    """One row per fitted parameter (see the module docstring); ``posterior`` is a
    :class:`calibration.inference.Posterior`, best particle first."""
    space, x, w = posterior.space, posterior.x, posterior.weights
    rows = []
    for j, (name, lo, hi, lg) in enumerate(
        zip(space.names, space.low, space.high, space.log, strict=True)
    ):
        q05, q50, q95 = weighted_quantile(x[:, j], w, [0.05, 0.5, 0.95])
        mean = float(w @ x[:, j])
        var = float(w @ (x[:, j] - mean) ** 2)
        back = (lambda z: 10.0**z) if lg else (lambda z: z)
        ratio = (q95 - q05) / (0.9 * (hi - lo))
        rows.append(
            {
                "parameter": name,
                "scale": "log10" if lg else "linear",
                "prior_low": float(back(lo)),
                "prior_high": float(back(hi)),
                "best": float(back(x[0, j])),
                "posterior_median": float(back(q50)),
                "q05": float(back(q05)),
                "q95": float(back(q95)),
                "width_ratio": float(ratio),
                "contraction": float(1.0 - var / ((hi - lo) ** 2 / 12.0)),
                "verdict": "identified"
                if ratio < IDENTIFIED
                else "weakly identified"
                if ratio < WEAKLY
                else "not identified",
            }
        )
    return pd.DataFrame(rows)


def correlations(posterior) -> pd.DataFrame:
    names = list(posterior.space.names)
    return pd.DataFrame(weighted_corr(posterior.x, posterior.weights), index=names, columns=names)


def strong_pairs(corr: pd.DataFrame, cutoff: float = STRONG) -> list[tuple[str, str, float]]:
    """Pairs with ``|r| > cutoff``, strongest first."""
    out = []
    names = list(corr.columns)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            r = float(corr.loc[a, b])
            if np.isfinite(r) and abs(r) > cutoff:
                out.append((a, b, r))
    return sorted(out, key=lambda t: -abs(t[2]))


def verdicts(tab: pd.DataFrame) -> dict[str, list[str]]:
    return {
        v.replace(" ", "_"): [r.parameter for r in tab.itertuples() if r.verdict == v]
        for v in ("identified", "weakly identified", "not identified")
    }


def record_section(tab: pd.DataFrame, corr: pd.DataFrame) -> dict[str, list]:
    """The calibration record's ``identifiability``: the verdicts and the strong pairs."""
    return {**verdicts(tab), "strong_pairs": [[a, b, r] for a, b, r in strong_pairs(corr)]}


def markdown(tab: pd.DataFrame, corr: pd.DataFrame) -> str:
    """The identifiability table and the flagged pairs, as markdown."""
    from .report import md_table

    pairs = strong_pairs(corr)
    shown = tab.copy()
    lines = [
        "| parameter | scale | prior range | posterior median | 90% credible interval | "
        "width ratio | contraction | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in shown.itertuples():
        lines.append(
            f"| {r.parameter} | {r.scale} | {r.prior_low:.4g} … {r.prior_high:.4g} | "
            f"{r.posterior_median:.4g} | {r.q05:.4g} … {r.q95:.4g} | {r.width_ratio:.2f} | "
            f"{r.contraction:.2f} | {r.verdict} |"
        )
    out = [
        "\n".join(lines),
        "",
        f"Width ratio: the 90% credible interval over the prior's 90% width (identified < "
        f"{IDENTIFIED}, weakly < {WEAKLY}); contraction: 1 − posterior / prior variance; both in "
        "search coordinates (log10 where marked).",
        "",
        f"Strongly correlated pairs (|r| > {STRONG}, weighted Pearson, search coordinates): "
        + (", ".join(f"{a}–{b} ({r:+.2f})" for a, b, r in pairs) or "none"),
        "",
    ]
    if len(corr) <= 40:
        out += ["Correlation matrix:", "", md_table(corr.reset_index(names="parameter"), ".2f"), ""]
    return "\n".join(out)
