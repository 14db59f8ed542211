"""What each component of 2020 explains, and the 2020 rules without the pandemic.

The history as it happened (``as_it_happened``) is run beside the same history less one component
(``history_without_*``) on the same parameter sets and seeds: the paired difference is the acts
that component explains, given the others (components interact, so the shares need not add up to
one). ``rules_2020_no_pandemic`` applies the rules of 2020 from 15 Sep 2018 without the lockdowns:
the policy answer the mission asks for.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .outcomes import interval

HISTORY = "as_it_happened"
#: The counterfactual runs of the decomposition: scenario -> the component it removes.
COMPONENTS = {
    "history_without_rules_waiver": "the rules' waiver (Covid patients)",
    "history_without_full_coverage": "100% coverage",
    "history_without_free_platforms": "free video platforms",
    "history_without_phone": "phone teleconsultation",
    "history_without_demand": "lockdown demand (stringency)",
}
NO_PANDEMIC = "rules_2020_no_pandemic"
#: Years the decomposition speaks about (the regime's years).
YEARS = (2020, 2021)


def decomposition_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Per component and year: acts explained (history minus history without it, paired on
    parameter set and seed; mean and 5-95%) and that as a share of the history's acts."""
    rows = []
    history = summary[summary["label"] == HISTORY].set_index(["param_id", "seed"])
    if history.empty:
        return pd.DataFrame(rows)
    for label, component in COMPONENTS.items():
        part = summary[summary["label"] == label].set_index(["param_id", "seed"])
        for year in YEARS:
            column = f"acts_{year}"
            if part.empty or column not in part or column not in history:
                continue
            without = part[[column]].rename(columns={column: f"{column}_without"})
            joined = history[[column]].join(without, how="inner").dropna()
            if joined.empty:
                continue
            explained = joined[column] - joined[f"{column}_without"]
            share = explained / joined[column].where(joined[column] > 0)
            e, s = interval(explained), interval(share.to_numpy(dtype=float))
            rows.append(
                {
                    "component": component,
                    "scenario": label,
                    "year": year,
                    "explained_mean": e["mean"],
                    "explained_low": e["low"],
                    "explained_high": e["high"],
                    "share_mean": s["mean"],
                    "share_low": s["low"],
                    "share_high": s["high"],
                    "history_mean": float(np.mean(joined[column])),
                    "n": e["n"],
                }
            )
    return pd.DataFrame(rows)


def decomposition_figure(table: pd.DataFrame, year: int = 2020):
    """Acts of ``year`` each component explains (mean and 5-95% over paired runs)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    part = table[table["year"] == year]
    fig = Figure(figsize=(9, 0.6 * max(len(part), 1) + 1.4), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(part))
    mean = part["explained_mean"].to_numpy()
    err = np.vstack([mean - part["explained_low"], part["explained_high"] - mean])
    ax.barh(y, mean, xerr=err, color="tab:purple", alpha=0.7, capsize=3)
    ax.set_yticks(y, part["component"])
    ax.invert_yaxis()
    ax.axvline(0, color="black", lw=0.8)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1e6:,.1f} M"))
    ax.set_xlabel(f"acts of {year} explained (history minus history without the component)")
    ax.grid(True, axis="x", alpha=0.3)
    ax.set_title(f"What each component of the 2020 regime explains ({year})", loc="left")
    return fig
