"""``telesim report``: the experiment's answer, written as Markdown, CSV tables and figures.

Every number is recomputed from the runs on disk (``experiment.json``, ``least_change.json``,
``sensitivity.json`` and each run's Parquet tables); nothing is carried over from the run that
produced them, so re-running the report reproduces it, and a report on a larger experiment is
the same command. The report folder is written atomically (complete or not at all). It holds no
timestamp, so two reports of the same runs are identical.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from calibration.targets import OBSERVED_CSV, annual_targets, load_observed
from infra.atomic import atomic_dir, atomic_savefig, atomic_write_text

from . import cheapest, costs, decomposition, discovery, least_change, outcomes, sensitivity
from .runner import DEFAULT_OUT, ROOT, ExperimentError, read_design, run_dir
from .scenarios import GROUPS

DEFAULT_REPORT = ROOT / "results" / "report"
#: A scenario "hits" a target in the answer when at least this share of its runs reach it.
HIT_SHARE = 0.5
YEARS = outcomes.YEARS


def _fmt(v: float | None, digits: int = 0) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{v:,.{digits}f}"


def _p(v: float | None) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v:.2f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _rel(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _order(name: str, record: dict[str, Any]) -> tuple:
    """Baseline first, then single levers, combinations, stress tests, custom; by name."""
    group = record.get("group", "custom")
    rank = GROUPS.index(group) if group in GROUPS else len(GROUPS)
    return (rank, name != "baseline", name)


def _uses_sets(record: dict[str, Any], param_ids: set[str]) -> bool:
    """Whether a search's record used only these parameter sets (else it is stale)."""
    return {rep["param_id"] for rep in record.get("plan", [])} <= param_ids


class Analysis:
    """Everything the report shows, computed once from the experiment folder."""

    def __init__(self, out: str | Path):
        self.out = Path(out)
        design = read_design(self.out)
        if design is None:
            raise ExperimentError(f"{self.out}: no experiment.json; run `telesim experiment` first")
        self.design = design
        self.targets = annual_targets()
        self.labels = sorted(design.scenarios, key=lambda n: _order(n, design.scenarios[n]))
        self.summary = outcomes.summary_table(self.out, design.plan, self.labels)
        if self.summary.empty:
            raise ExperimentError(f"{self.out}: no finished runs of the experiment's scenarios")
        self.labels = [lab for lab in self.labels if lab in set(self.summary["label"])]
        self.annual = outcomes.annual_table(self.summary, self.targets)
        self.diffs = outcomes.paired_differences(self.summary, "baseline")
        self.decomposition = decomposition.decomposition_table(self.summary)
        self.costs = costs.scenario_costs(self.summary, "baseline")
        self.types = outcomes.type_table(self.summary)
        self.adopting = outcomes.stock_table(self.summary, "adopting_doctors")
        self.patients = outcomes.stock_table(self.summary, "patients_ever")
        region_labels = [lab for lab in ("baseline", "all_levers") if lab in self.labels]
        self.regions = outcomes.region_table(self.out, design.plan, region_labels)
        self.lc = least_change.analyse(self.out)
        if len(self.lc) and not least_change.uses_sets(self.out, set(design.param_sets)):
            self.lc = pd.DataFrame()  # searched with parameter sets the experiment replaced
        self.sa, self.sa_info = sensitivity.analyse(self.out)
        self.sd = None
        if discovery.uses_sets(self.out, set(design.param_sets)):  # else drawn from older sets
            self.sd = discovery.analyse(self.out, self.targets)
        self.cp = cheapest.analyse(self.out)
        if self.cp and not _uses_sets(self.cp["record"], set(design.param_sets)):
            self.cp = {}  # searched with parameter sets the experiment replaced
        paths = [
            run_dir(self.out, lab, r["param_id"], r["seed"])
            for lab in self.labels
            for r in design.plan
        ]
        metas = [outcomes.read_meta(p) for p in paths if (p / "metadata.json").is_file()]
        self.commits = sorted({m.get("git_commit") or "unknown" for m in metas})
        self.model_hashes = sorted({m.get("model_hash") or "unknown" for m in metas})

    def cell(self, label: str, year: int) -> dict[str, Any] | None:
        rows = self.annual[(self.annual["label"] == label) & (self.annual["year"] == year)]
        return rows.iloc[0].to_dict() if len(rows) else None

    def hits(self, year: int) -> list[tuple[str, dict]]:
        """Scenarios whose hit share for ``year`` is at least HIT_SHARE, best first."""
        found = []
        for label in self.labels:
            c = self.cell(label, year)
            if c is not None and c.get("p", float("nan")) >= HIT_SHARE:
                found.append((label, c))
        return sorted(found, key=lambda x: (-x[1]["p"], -x[1]["mean"]))


# --------------------------------------------------------------------------------------------
# figures (matplotlib Figure objects: no global pyplot state)


def _draw_targets(ax, targets: dict, stop) -> None:
    """Each year's target as a weekly rate (dashed red), for the years the plot covers."""
    for year, target in targets.items():
        if pd.Timestamp(year, 12, 31) <= stop:
            ax.hlines(
                target / 52.18,
                pd.Timestamp(year, 1, 1),
                pd.Timestamp(year, 12, 31),
                colors="tab:red",
                linestyles="--",
                lw=1,
            )


def _draw_observed(ax, observed, stop) -> None:
    for kind, color in (("weekly_count", "black"), ("monthly_count", "tab:orange")):
        rows = observed[(observed["kind"] == kind) & (observed["period_start"] <= stop)]
        for r in rows.itertuples():
            days = (r.period_end - r.period_start).days + 1
            value = r.value * 7.0 / days if kind == "monthly_count" else r.value
            centre = r.period_start + (r.period_end - r.period_start) / 2
            marker = "^" if r.bound == "lower" else "o"
            ax.plot([r.period_start, r.period_end], [value, value], color=color, lw=1)
            ax.plot([centre], [value], marker=marker, color=color, ms=5, ls="")


def weekly_figure(a: Analysis, labels: list[str], title: str, observed):
    """Small multiples: each scenario's weekly acts (mean, 5-95% band) over the baseline's."""
    from matplotlib.dates import DateFormatter, YearLocator
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    ncols = 3
    nrows = max(1, math.ceil(len(labels) / ncols))
    fig = Figure(figsize=(13, 3.0 * nrows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True, sharey=True)).ravel()
    base = outcomes.weekly_bands(a.out, a.design.plan, "baseline")
    stop = pd.Timestamp(a.design.end)
    for ax, label in zip(axes, labels, strict=False):
        band = outcomes.weekly_bands(a.out, a.design.plan, label)
        if len(base) and label != "baseline":
            ax.plot(base["week_start"], base["mean"], color="grey", lw=1, label="baseline")
        ax.fill_between(band["week_start"], band["low"], band["high"], color="tab:blue", alpha=0.3)
        ax.plot(band["week_start"], band["mean"], color="tab:blue", lw=1.5, label=label)
        _draw_observed(ax, observed, stop)
        _draw_targets(ax, a.targets, stop)
        ax.set_yscale("log")
        ax.set_ylim(10, None)
        ax.set_title(f"{label} (n={int(band['n'].iloc[0]) if len(band) else 0})", fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.xaxis.set_major_locator(YearLocator())
        ax.xaxis.set_major_formatter(DateFormatter("%Y"))
    for ax in axes[len(labels) :]:
        ax.set_visible(False)
    fig.suptitle(
        f"{title}: weekly acts, mean and 5-95% band over replicates (blue), baseline (grey), "
        "observed (black/orange), target as a weekly average (red dashes)",
        fontsize=10,
    )
    return fig


#: The history and the 2020 rules without the pandemic, beside the baseline: label, colour.
HISTORY_LINES = (
    ("baseline", "tab:blue"),
    (decomposition.HISTORY, "tab:purple"),
    (decomposition.NO_PANDEMIC, "tab:green"),
)


def history_figure(a: Analysis, observed):
    """The history as it happened and the 2020 rules without the pandemic, beside the baseline:
    weekly acts with bands, the observed figures and the targets."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    fig = Figure(figsize=(11, 4.8), layout="constrained")
    ax = fig.subplots()
    stop = pd.Timestamp(a.design.end)
    for label, color in HISTORY_LINES:
        if label not in a.labels:
            continue
        band = outcomes.weekly_bands(a.out, a.design.plan, label)
        if band.empty:
            continue
        ax.fill_between(band["week_start"], band["low"], band["high"], color=color, alpha=0.25)
        ax.plot(band["week_start"], band["mean"], color=color, lw=1.6, label=f"{label} (mean)")
    _draw_observed(ax, observed, stop)
    _draw_targets(ax, a.targets, stop)
    ax.set_yscale("log")
    ax.set_ylim(10, None)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_ylabel("acts per week (log scale)")
    ax.legend(loc="upper left", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.set_title(
        "As it happened, and the 2020 rules without the pandemic, beside the no-COVID baseline "
        "(observed: black/orange; targets as weekly averages: red dashes)",
        loc="left",
        fontsize=9,
    )
    return fig


def annual_figure(a: Analysis):
    """Annual totals per scenario (mean, 5-95%) against the targets, one panel per year."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, NullFormatter

    years = [y for y in YEARS if y in set(a.annual["year"])]
    fig = Figure(figsize=(13, 0.32 * len(a.labels) + 1.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, max(1, len(years)), sharey=True))
    ypos = np.arange(len(a.labels))[::-1]
    for ax, year in zip(axes, years, strict=False):
        for y, label in zip(ypos, a.labels, strict=True):
            c = a.cell(label, year)
            if c is None:
                continue
            hit = year in a.targets and c["p"] >= HIT_SHARE
            color = "tab:green" if hit else "tab:blue"
            ax.errorbar(
                [c["mean"]],
                [y],
                xerr=[[c["mean"] - c["low"]], [c["high"] - c["mean"]]],
                fmt="o",
                color=color,
                ms=4,
                capsize=2,
            )
        if year in a.targets:
            ax.axvline(a.targets[year], color="tab:red", ls="--", lw=1)
            ax.set_title(f"{year} (target {a.targets[year]:,.0f})", fontsize=10)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1e6:g}M"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(True, alpha=0.3)
    axes[0].set_yticks(ypos, a.labels, fontsize=8)
    fig.suptitle(
        "Annual acts: mean and 5-95% interval over replicates; green = at least half the runs "
        "reach the target (red)",
        fontsize=10,
    )
    return fig


def sensitivity_figure(a: Analysis):
    from matplotlib.figure import Figure

    t = a.sa
    fig = Figure(figsize=(8, 0.32 * len(t) + 1.5), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(t))[::-1]
    if a.sa_info.get("method") == "morris":
        ax.barh(y, t["mu_star"], color="tab:blue", alpha=0.7)
        ax.errorbar(
            t["mu_star"],
            y,
            xerr=[t["mu_star"] - t["mu_star_low"], t["mu_star_high"] - t["mu_star"]],
            fmt="none",
            color="black",
            capsize=2,
        )
        ax.set_xlabel("Morris mu* of log10(acts 2019) per full range (bootstrap 90% interval)")
    else:
        ax.barh(y + 0.2, t["total_order"], height=0.4, color="tab:blue", label="total")
        ax.barh(y - 0.2, t["first_order"], height=0.4, color="tab:orange", label="first order")
        ax.errorbar(
            t["total_order"],
            y + 0.2,
            xerr=[
                np.clip(t["total_order"] - t["total_low"], 0, None),
                np.clip(t["total_high"] - t["total_order"], 0, None),
            ],
            fmt="none",
            color="black",
            capsize=2,
        )
        ax.legend()
        ax.set_xlabel("Sobol index of log10(acts 2019) (bootstrap 90% interval)")
    ax.set_yticks(y, t["factor"], fontsize=8)
    ax.grid(True, axis="x", alpha=0.3)
    ax.set_title("Sensitivity of the 2019 total to the uncertainties", loc="left")
    return fig


def region_figure(a: Analysis, year: int = 2019):
    from matplotlib.figure import Figure

    r = a.regions[a.regions["year"] == year]
    fig = Figure(figsize=(10, 6), layout="constrained")
    ax = fig.subplots()
    if r.empty:
        return fig
    labels = list(dict.fromkeys(r["label"]))
    base = r[r["label"] == labels[0]].groupby("region")["acts"].mean().sort_values()
    order = list(base.index)
    y = np.arange(len(order))
    height = 0.8 / len(labels)
    for k, label in enumerate(labels):
        part = r[r["label"] == label].groupby("region")["acts"]
        mean = part.mean().reindex(order)
        low = part.quantile(outcomes.LOW_Q).reindex(order)
        high = part.quantile(outcomes.HIGH_Q).reindex(order)
        pos = y + (k - (len(labels) - 1) / 2) * height
        ax.barh(pos, mean, height=height, label=label, alpha=0.8)
        ax.errorbar(mean, pos, xerr=[mean - low, high - mean], fmt="none", color="k", lw=0.8)
    ax.set_yticks(y, order, fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel(f"acts in {year} (mean, 5-95% over replicates; log scale)")
    ax.legend(fontsize=9)
    ax.grid(True, axis="x", alpha=0.3)
    ax.set_title(f"Acts by region, {year}", loc="left")
    return fig


# --------------------------------------------------------------------------------------------
# the Markdown


def answer_rows(a: Analysis, short: int = 100) -> list[list[str]]:
    """Per target: the baseline's hit share and the scenarios that hit it (the first ``short``)."""
    rows = []
    covered = set(a.annual["year"]) if len(a.annual) else set()
    for year, target in a.targets.items():
        if year not in covered:
            continue
        base = a.cell("baseline", year)
        hits = a.hits(year)
        text = ", ".join(f"{lab} {c['p']:.2f}" for lab, c in hits[:short]) or "none"
        if len(hits) > short:
            text += f" and {len(hits) - short} more"
        rows.append(
            [
                f"{year}: {target:,.0f}",
                _p(base["p"]) if base else "–",
                _fmt(base["mean"]) if base else "–",
                text,
            ]
        )
    return rows


def answer_text(a: Analysis) -> str:
    """The short answer printed in the terminal."""
    lines = [
        f"Which scenarios hit the targets ({len(a.design.plan)} replicates; hit = at least "
        f"{HIT_SHARE:.0%} of runs reach the target; share of runs after each name):"
    ]
    for year, target, p_base, mean_base, text in (
        [r[0].split(": ")[0], r[0].split(": ")[1], r[1], r[2], r[3]] for r in answer_rows(a, 4)
    ):
        lines.append(
            f"  {year} target {target:>9}: baseline {mean_base:>10} acts "
            f"(P {p_base}); hit by: {text}"
        )
    if not a.lc.empty:
        for year in sorted(set(a.lc["year"])):
            part = a.lc[(a.lc["year"] == year) & (a.lc["level"] == 0.5)]
            if len(part) and (part["status"] == "baseline").all():
                lines.append(f"  least change alone, P >= 0.5, {year}: none needed (baseline hits)")
                continue
            found = [
                f"{r.lever} {r.value_high} (est. {r.value_estimate})"
                for r in part.itertuples()
                if r.status == "bracket"
            ]
            none = int((part["status"] == "unreachable").sum())
            text = ", ".join(found) if found else "no lever alone"
            lines.append(
                f"  least change alone, P >= 0.5, {year}: {text}"
                + (f"; {none} levers cannot alone" if none and found else "")
            )
    return "\n".join(lines)


def _intro(a: Analysis, figures: dict[str, str]) -> list[str]:
    """What the experiment is, and warnings about the runs it holds."""
    d = a.design
    n = len(d.plan)
    out: list[str] = []
    out.append("# Which policies would have hit the téléconsultation targets?\n")
    out.append(
        f"Experiment folder `{_rel(a.out)}`: {len(a.labels)} scenarios × {n} replicates, runs "
        f"15 Sep 2018 → {d.end}, scale {d.scale or 'model default'} persons per patient agent, "
        f"root seed {d.root_seed}. Replicate *r* pairs a parameter set with seed *r* derived from "
        "the root seed (numpy `SeedSequence`); every scenario meets the same replicates, so "
        "differences from the baseline are paired. Parameter sets: "
        f"{d.params_note}. Targets from `{_rel(OBSERVED_CSV)}`. Model commit(s) of the runs: "
        f"{', '.join(c[:12] for c in a.commits)} (model code and data hash "
        f"{', '.join(a.model_hashes)}).\n"
    )
    if len(a.model_hashes) > 1:
        out.append(
            f"> **Warning.** The runs come from {len(a.model_hashes)} versions of the model "
            f"({', '.join(a.model_hashes)}); re-run `telesim experiment` with the same options "
            "to bring them all to the current one.\n"
        )
    if "single best parameter set" in d.params_note:
        out.append(
            "> **Note.** No calibration posterior (or ensemble) was available, so all replicates "
            "use one parameter set: intervals and probabilities reflect the model's randomness "
            "only, not the uncertainty about its parameters.\n"
        )
    out.append(
        "Intervals on acts are the 5–95% range over replicates. A *hit share* is the share of "
        "runs reaching the target; its bracket is a 90% Jeffreys interval for the probability "
        f"given {n} runs.\n"
    )
    return out


def _answer(a: Analysis, figures: dict[str, str]) -> list[str]:
    """The answer per target."""
    out: list[str] = []
    out.append("## The answer\n")
    out.append(
        _table(
            [
                "target",
                "baseline hit share",
                "baseline mean acts",
                f"scenarios with hit share ≥ {HIT_SHARE}",
            ],
            answer_rows(a),
        )
        + "\n"
    )
    return out


def _hit_probabilities(a: Analysis, figures: dict[str, str]) -> list[str]:
    """Hit probability per scenario and target, with its interval."""
    out: list[str] = []
    out.append("## Hit probability per scenario and target\n")
    rows = []
    for label in a.labels:
        row = [f"`{label}`", str(int((a.summary["label"] == label).sum()))]
        for year in a.targets:
            c = a.cell(label, year)
            row.append(
                f"{_p(c['p'])} [{_p(c['p_low'])}–{_p(c['p_high'])}]" if c and "p" in c else "–"
            )
        rows.append(row)
    header = ["scenario", "runs", *[f"{y}: {t:,.0f}" for y, t in a.targets.items()]]
    out.append(_table(header, rows) + "\n")
    return out


def _annual_acts(a: Analysis, figures: dict[str, str]) -> list[str]:
    """Annual acts per scenario, mean and 5-95%."""
    out: list[str] = []
    out.append("## Annual acts (mean [5–95%])\n")
    rows = []
    for label in a.labels:
        row = [f"`{label}`"]
        for year in YEARS:
            c = a.cell(label, year)
            row.append(f"{_fmt(c['mean'])} [{_fmt(c['low'])}–{_fmt(c['high'])}]" if c else "–")
        rows.append(row)
    out.append(_table(["scenario", *map(str, YEARS)], rows) + "\n")
    out.append(f"![annual totals]({figures['annual']})\n")
    return out


def _baseline(a: Analysis, figures: dict[str, str]) -> list[str]:
    """The baseline counterfactual against the targets."""
    out: list[str] = []
    base_rows = []
    for year in YEARS:
        c = a.cell("baseline", year)
        if c:
            base_rows.append(
                [
                    str(year),
                    _fmt(c["mean"]),
                    f"{_fmt(c['low'])}–{_fmt(c['high'])}",
                    _fmt(a.targets.get(year)),
                    f"{c['mean'] / a.targets[year]:.0%}" if year in a.targets else "–",
                ]
            )
    out.append("## The baseline counterfactual (no COVID)\n")
    out.append(_table(["year", "mean acts", "5–95%", "target", "mean / target"], base_rows) + "\n")
    return out


def _paired_differences(a: Analysis, figures: dict[str, str]) -> list[str]:
    """Each scenario minus the baseline, on the same replicates."""
    out: list[str] = []
    if not a.diffs.empty:
        out.append("## Paired difference from the baseline (acts; mean [5–95%] of differences)\n")
        rows = []
        for label in a.labels:
            if label == "baseline":
                continue
            row = [f"`{label}`"]
            for year in YEARS:
                d_ = a.diffs[(a.diffs["label"] == label) & (a.diffs["outcome"] == f"acts_{year}")]
                if len(d_):
                    r = d_.iloc[0]
                    row.append(
                        f"{r['mean']:+,.0f} [{r['low']:+,.0f}…{r['high']:+,.0f}] "
                        f"(×{r['ratio_mean']:.2f})"
                    )
                else:
                    row.append("–")
            rows.append(row)
        out.append(_table(["scenario", *map(str, YEARS)], rows) + "\n")
    return out


def _cell_text(c: dict | None) -> str:
    if not c:
        return "–"
    return f"{_fmt(c['mean'])} [{_fmt(c['low'])}–{_fmt(c['high'])}]"


def _hit_text(c: dict | None) -> str:
    if not c or "p" not in c or not math.isfinite(c.get("p", float("nan"))):
        return "–"
    return f"{_p(c['p'])} [{_p(c['p_low'])}–{_p(c['p_high'])}]"


def _history(a: Analysis, figures: dict[str, str]) -> list[str]:
    """The history as it happened, its decomposition, and the 2020 rules without the pandemic."""
    shown = [lab for lab, _ in HISTORY_LINES if lab in a.labels]
    if decomposition.HISTORY not in shown and decomposition.NO_PANDEMIC not in shown:
        return []
    out = ["## 2020-2021: the history, what explains it, and the 2020 rules without the pandemic\n"]
    out.append(
        "`as_it_happened` is the history with COVID (every dated regulatory change of the period "
        "and the OxCGRT stringency index); its parameters were fitted to the 2018-2019 figures "
        "and the 2020 figures up to the end of September 2020: every later figure is the model's "
        "prediction. Acts per year, mean [5-95%], and the share of runs that hit the target "
        "[90% interval of that share]:\n"
    )
    rows = []
    for year in YEARS:
        row = [str(year)]
        for lab in shown:
            c = a.cell(lab, year)
            row += [_cell_text(c), _hit_text(c)]
        rows.append(row)
    header = ["year"] + [h for lab in shown for h in (lab, "P(hit)")]
    out.append(_table(header, rows) + "\n")
    if "history" in figures:
        out.append(f"![history beside the baseline]({figures['history']})\n")
    if decomposition.NO_PANDEMIC in a.labels:
        answers = []
        for year in YEARS:
            c = a.cell(decomposition.NO_PANDEMIC, year)
            if c and "target" in c:
                answers.append(
                    f"{_fmt(c['target'])} in {year}: P(hit) {_hit_text(c)} (acts {_cell_text(c)})"
                )
        if answers:
            out.append(
                "**The 2020 rules without the pandemic, from 15 Sep 2018** (rules waived for every "
                "patient, 100% coverage, free platforms, phone teleconsultation; no lockdown): "
                + "; ".join(answers)
                + ".\n"
            )
    if not a.decomposition.empty:
        out.append(
            "### What each component explains\n\nActs of the history minus acts of the same "
            "history without one component, paired on parameter set and seed (mean [5-95%]); "
            "components interact, so the shares need not add up to one.\n"
        )
        rows = [
            [
                r.component,
                str(r.year),
                f"{_fmt(r.explained_mean)} [{_fmt(r.explained_low)}–{_fmt(r.explained_high)}]",
                f"{r.share_mean:.0%} [{r.share_low:.0%}–{r.share_high:.0%}]",
                str(r.n),
            ]
            for r in a.decomposition.itertuples()
        ]
        out.append(_table(["component", "year", "acts explained", "share", "runs"], rows) + "\n")
        if "decomposition" in figures:
            out.append(f"![decomposition]({figures['decomposition']})\n")
    return out


def _meur(v: float | None) -> str:
    """Euros as millions with one decimal (``12.3``)."""
    return "–" if v is None or not math.isfinite(v) else f"{v / 1e6:,.1f}"


def _public_cost(a: Analysis, figures: dict[str, str]) -> list[str]:
    """Public cost per scenario and cost per extra act, paired with the baseline."""
    out: list[str] = ["## Public cost (million EUR, 15 Sep 2018 – 31 Dec 2021)\n"]
    if a.costs.empty:
        return out + ["No runs to cost.\n"]
    unit = costs.unit_costs()
    out.append(
        "What the national insurance and the State pay: the insurance share of every act "
        f"(coverage × {unit['tariff_eur']:g} EUR) and what the levers pay (equipment aid, "
        "platform subsidy, campaign, pharmacy points), unit costs from "
        "`experiments/data/costs.csv` (sources and assumptions in its README). *Net* counts, "
        f"for the {unit['substitution_share']:.0%} of acts assumed to replace an in-person "
        "consultation, only the insurance share above the in-person one "
        f"({unit['in_person_insurance_share']:.0%}); *gross* counts every act's share as new "
        "spending. The searches minimise the net cost. Extra cost and acts are paired "
        "differences from the baseline (mean [5–95%]); EUR per extra act = mean extra cost / "
        "mean extra acts.\n"
    )
    rows = []
    for label in a.labels:
        part = a.costs[a.costs["label"] == label]
        if part.empty:
            continue
        r = part.iloc[0]
        extra = label != "baseline" and "extra_cost" in r and math.isfinite(r["extra_cost"])
        flags = costs.unpriced(a.design.scenarios[label]["levers"])
        rows.append(
            [
                f"`{label}`" + (f" (unpriced: {', '.join(flags)})" if flags else ""),
                f"{_meur(r['cost_net'])} [{_meur(r['cost_net_low'])}–{_meur(r['cost_net_high'])}]",
                f"{_meur(r['cost_gross'])}",
                f"{_meur(r['extra_cost'])} [{_meur(r['extra_cost_low'])}–"
                f"{_meur(r['extra_cost_high'])}]"
                if extra
                else "–",
                f"{_fmt(r['extra_acts'])}" if extra else "–",
                f"{_fmt(r['eur_per_extra_act'], 2)}" if extra else "–",
                f"{_fmt(r['gross_eur_per_extra_act'], 2)}" if extra else "–",
            ]
        )
    header = [
        "scenario",
        "net cost",
        "gross cost",
        "extra net cost",
        "extra acts",
        "EUR per extra act (net)",
        "EUR per extra act (gross)",
    ]
    out.append(_table(header, rows) + "\n")
    return out


def _weekly(a: Analysis, figures: dict[str, str]) -> list[str]:
    """The weekly figures."""
    out: list[str] = []
    out.append("## Weekly acts per scenario\n")
    for key in sorted(k for k in figures if k.startswith("weekly")):
        out.append(f"![{key}]({figures[key]})\n")
    return out


def _least_change(a: Analysis, figures: dict[str, str]) -> list[str]:
    """Least change per lever: one row per lever, one column per target and level."""
    out: list[str] = []
    out.append("## Least change per lever (one lever at a time)\n")
    if a.lc.empty:
        out.append("Not computed (run `telesim experiment --least-change`).\n")
        return out
    r0 = a.lc.iloc[0]
    out.append(
        f"Each lever moved alone from its baseline towards its strongest setting; "
        f"{int(r0['replicates'])} replicates per point (the experiment's first ones), "
        "bisection in lockstep, then `scipy.optimize.brentq` on the interpolated response "
        "inside the final bracket. A cell is the evaluated setting known to reach the target "
        "with at least that share of runs, and in brackets the estimate interpolated inside "
        "the bracket still open (more `--lc-rounds` narrow it); – means not with this lever "
        "alone. Brackets in `tables/least_change.csv`.\n"
    )
    reaching, nothing = least_change.compact(a.lc)
    if len(reaching):
        columns = [c for c in reaching.columns if c not in ("lever", "question")]
        rows = [
            [f"`{r['lever']}`", r["question"], *[r[c] for c in columns]]
            for _, r in reaching.iterrows()
        ]
        out.append(_table(["lever", "least change sought", *columns], rows) + "\n")
    if len(nothing):
        names = ", ".join(f"`{r.lever}` (up to {r.strongest_value})" for r in nothing.itertuples())
        out.append(
            f"Not reachable alone for any target and level ({len(nothing)} of "
            f"{len(nothing) + len(reaching)} levers, each up to its strongest setting): "
            f"{names}.\n"
        )
    return out


def _cheapest(a: Analysis, figures: dict[str, str]) -> list[str]:
    """The cheapest package per target and level, and the cost–P(hit) Pareto fronts."""
    out: list[str] = ["## Cheapest package per target\n"]
    if not a.cp or a.cp["archive"].empty:
        out.append("Not computed (run `telesim experiment --cheapest`).\n")
        return out
    rec, archive = a.cp["record"], a.cp["archive"]
    out.append(
        f"{len(archive)} packages evaluated (NSGA-II, population {rec['population']}, seed "
        f"{rec['seed']}; the first generation a Latin hypercube with the two corners), each on "
        f"the same {rec['replicates']} replicates (common random numbers: the experiment's "
        "first parameter sets and seeds). A package sets the levers "
        + ", ".join(f"`{d['lever']}`" for d in rec["dimensions"])
        + " together, from their cheapest to their strongest setting. Cost: the net public "
        "cost (section *Public cost*), mean [5–95%] over the replicates; P(hit): the share of "
        "the replicates reaching the target, with its 90% Jeffreys interval. The chance "
        "constraint P(hit) ≥ level is read on those replicates; a cheaper package may exist "
        "that the search did not evaluate (raise `--cp-evaluations`).\n"
    )
    rows = []
    for r in a.cp["answers"].to_dict("records"):
        p = f"p_{r['year']}"
        if r["found"]:
            rows.append(
                [
                    f"{r['year']}: {r['target']:,.0f}",
                    f"{r['level']:g}",
                    r["package"],
                    f"{_meur(r['cost'])} [{_meur(r['cost_low'])}–{_meur(r['cost_high'])}]",
                    _meur(r["cost_gross"]),
                    f"{_p(r[p])} [{_p(r[p + '_low'])}–{_p(r[p + '_high'])}]",
                ]
            )
        else:
            rows.append(
                [
                    f"{r['year']}: {r['target']:,.0f}",
                    f"{r['level']:g}",
                    f"none of the {r['candidates']} evaluated (best P(hit) {_p(r['best_p'])})",
                    "–",
                    "–",
                    "–",
                ]
            )
    header = ["target", "P ≥", "cheapest package found", "net cost", "gross cost", "P(hit)"]
    out.append(_table(header, rows) + "\n")
    base = a.cp.get("baseline") or {}
    if base:
        out.append(
            f"The baseline on the same replicates: net cost {_meur(base['cost'])} million EUR; "
            + ", ".join(f"P(hit {y}) {_p(base.get(f'p_{y}'))}" for y in a.cp["targets"])
            + ".\n"
        )
    out.append(f"![cost against P(hit)]({figures['cheapest']})\n")
    return out


def _discovery(a: Analysis, figures: dict[str, str]) -> list[str]:
    """PRIM boxes: under which conditions each target is hit."""
    out: list[str] = ["## Under which conditions is each target hit? (scenario discovery)\n"]
    if a.sd is None or a.sd.empty:
        out.append("Not computed (run `telesim experiment --discovery`).\n")
        return out
    runs = int(a.sd["runs"].iloc[0])
    out.append(
        f"{runs} runs, each a package drawn from a Latin hypercube over the levers of the "
        "cheapest-package search and a parameter set drawn from the calibration's (in proportion "
        "to its weight), with a seed of its own. PRIM (EMA Workbench) peels the box of levers and "
        "uncertainties where the target is hit most often; the box shown is the one of highest "
        "*coverage* (share of all hits inside it) whose *density* (share of hits among its "
        f"runs) reaches {discovery.DENSITY_GOAL:g} (or half way from the hit share to 1, if "
        "higher), else the densest. *Mass*: share of the runs "
        "inside it. Only the restricted dimensions are listed; a date lever *by D* means set on "
        "or before D.\n"
    )
    rows = []
    for r in a.sd.to_dict("records"):
        head = [f"{r['year']}: {r['target']:,.0f}", f"{r['hit_share']:.2f}"]
        if not isinstance(r.get("box"), str):
            never = "never hit in the design" if r["hit_share"] == 0 else "always hit"
            rows.append([*head, never, "–", "–", "–"])
            continue
        flag = "" if r["met_goal"] else " (density goal not met)"
        rows.append(
            [
                *head,
                (r["box"] or "no restriction") + flag,
                f"{r['coverage']:.2f}",
                f"{r['density']:.2f}",
                f"{r['mass']:.2f} ({int(r['runs_in_box'])} runs)",
            ]
        )
    header = ["target", "hit share", "box (restricted dimensions)", "coverage", "density", "mass"]
    out.append(_table(header, rows) + "\n")
    return out


def _sensitivity(a: Analysis, figures: dict[str, str]) -> list[str]:
    """Sensitivity of the 2019 total to the uncertainties."""
    out: list[str] = []
    out.append("## Sensitivity of the 2019 total to the uncertainties\n")
    if a.sa.empty:
        out.append("Not computed (run `telesim experiment --sensitivity morris`).\n")
    else:
        info = a.sa_info
        ranges = ", ".join(f"`{f['name']}` {f['low']:.3g}…{f['high']:.3g}" for f in info["factors"])
        out.append(
            f"Method: {info['method']} on {info['outcome']} ({info['runs']} runs to "
            f"{info['end']}, one seed). Ranges: {info['ranges_from']}: {ranges}.\n"
        )
        if info["method"] == "morris":
            rows = [
                [
                    f"`{r.factor}`",
                    f"{r.mu_star:.3f} [{r.mu_star_low:.3f}–{r.mu_star_high:.3f}]",
                    f"{r.mu:+.3f}",
                    f"{r.sigma:.3f}",
                ]
                for r in a.sa.itertuples()
            ]
            out.append(_table(["uncertainty", "mu* [90%]", "mu", "sigma"], rows) + "\n")
        else:
            rows = [
                [
                    f"`{r.factor}`",
                    f"{r.first_order:.3f} [{r.first_low:.3f}–{r.first_high:.3f}]",
                    f"{r.total_order:.3f} [{r.total_low:.3f}–{r.total_high:.3f}]",
                ]
                for r in a.sa.itertuples()
            ]
            out.append(_table(["uncertainty", "first order [90%]", "total [90%]"], rows) + "\n")
        out.append(f"![sensitivity]({figures['sensitivity']})\n")
    return out


def _stocks(a: Analysis, figures: dict[str, str]) -> list[str]:
    """Adopting doctors and patients at year end."""
    out: list[str] = []
    out.append("## Adopting doctors and patients at year end (mean [5–95%])\n")
    rows = []
    for label in a.labels:
        row = [f"`{label}`"]
        for year in YEARS:
            d_ = a.adopting[(a.adopting["label"] == label) & (a.adopting["year"] == year)]
            p_ = a.patients[(a.patients["label"] == label) & (a.patients["year"] == year)]
            row.append(
                f"{_fmt(d_.iloc[0]['mean'])} [{_fmt(d_.iloc[0]['low'])}–{_fmt(d_.iloc[0]['high'])}]"
                f" / {_fmt(p_.iloc[0]['mean'])}"
                if len(d_) and len(p_)
                else "–"
            )
        rows.append(row)
    out.append(
        "Adopting doctors [5–95%] / patients who ever teleconsulted (mean).\n\n"
        + _table(["scenario", *map(str, YEARS)], rows)
        + "\n"
    )
    return out


def _doctor_types(a: Analysis, figures: dict[str, str]) -> list[str]:
    """Acts by doctor type."""
    out: list[str] = []
    out.append("## Acts by doctor type (share of the year's mean acts)\n")
    rows = []
    kinds = outcomes.DOCTOR_TYPES
    for label in a.labels:
        for year in YEARS:
            part = a.types[(a.types["label"] == label) & (a.types["year"] == year)]
            if part.empty:
                continue
            shares = {r.doctor_type: r.share for r in part.itertuples()}
            rows.append(
                [f"`{label}`", str(year), *[f"{shares.get(k, float('nan')):.0%}" for k in kinds]]
            )
    out.append(_table(["scenario", "year", *kinds], rows) + "\n")
    return out


def _regions(a: Analysis, figures: dict[str, str]) -> list[str]:
    """Acts by region."""
    out: list[str] = []
    if not a.regions.empty:
        out.append("## Acts by region\n")
        out.append(f"![regions]({figures['regions']})\n")
        r = a.regions[(a.regions["label"] == "baseline") & (a.regions["year"] == 2019)]
        if len(r):
            mean = r.groupby("region")["acts"].mean().sort_values(ascending=False)
            total = mean.sum()
            rows = [[reg, _fmt(v), f"{v / total:.0%}"] for reg, v in mean.items()]
            out.append("Baseline, 2019 (mean over replicates):\n\n")
            out.append(_table(["region", "acts 2019", "share"], rows) + "\n")
    return out


def _scenarios(a: Analysis, figures: dict[str, str]) -> list[str]:
    """What each scenario changes."""
    d = a.design
    out: list[str] = []
    out.append("## Scenarios\n")
    rows = []
    for label in a.labels:
        sc = d.scenarios[label]
        changed = ", ".join(f"`{k}` = {v}" for k, v in sc["changed_levers"].items()) or "–"
        over = ", ".join(f"`{k}` = {v}" for k, v in sc["uncertainty_overrides"].items())
        rows.append(
            [
                f"`{label}`",
                sc["group"],
                changed + (f"; overrides {over}" if over else ""),
                sc["description"],
            ]
        )
    out.append(
        _table(["scenario", "group", "levers changed from the baseline", "description"], rows)
        + "\n"
    )
    return out


def _reproduce(a: Analysis, figures: dict[str, str]) -> list[str]:
    """The commands that reproduce the report."""
    out: list[str] = []
    out.append("## Reproduce\n")
    out.append(
        "```sh\n"
        f"telesim experiment --replicates {len(a.design.plan)} --out {_rel(a.out)} --least-change "
        f"--sensitivity {a.sa_info.get('method', 'morris')}\n"
        f"telesim report --experiment {_rel(a.out)}\n"
        "```\n\nRe-running skips the runs already on disk; the report is recomputed from them. "
        "Tables behind this report are in `tables/` (CSV).\n"
    )
    return out


#: The report's sections, in order.
SECTIONS = (
    _intro,
    _answer,
    _hit_probabilities,
    _annual_acts,
    _baseline,
    _paired_differences,
    _history,
    _public_cost,
    _weekly,
    _least_change,
    _cheapest,
    _discovery,
    _sensitivity,
    _stocks,
    _doctor_types,
    _regions,
    _scenarios,
    _reproduce,
)


def markdown(a: Analysis, figures: dict[str, str]) -> str:
    """The report's Markdown: each section in turn (figures by name, paths relative to it)."""
    out: list[str] = []
    for section in SECTIONS:
        out += section(a, figures)
    return "\n".join(out)


def _cheapest_tables(a: Analysis) -> dict[str, pd.DataFrame]:
    """The cheapest-package search's CSV tables (every package evaluated, the answers)."""
    if not a.cp:
        return {}
    archive = a.cp["archive"].drop(columns=["levers"], errors="ignore")
    answers = a.cp["answers"].drop(columns=["levers"], errors="ignore")
    return {"cheapest_packages.csv": archive, "cheapest_answers.csv": answers}


def _discovery_tables(a: Analysis) -> dict[str, pd.DataFrame]:
    return {} if a.sd is None else {"discovery_boxes.csv": a.sd}


def write_report(out: str | Path = DEFAULT_OUT, report_dir: str | Path = DEFAULT_REPORT) -> Path:
    """Compute the analysis from ``out`` and write ``report_dir`` atomically; print the answer."""
    a = Analysis(out)
    observed = load_observed()
    report_dir = Path(report_dir)
    with atomic_dir(report_dir) as tmp:
        figs: dict[str, str] = {}

        def save(fig, name: str) -> None:
            atomic_savefig(fig, tmp / "figures" / f"{name}.png", dpi=100)
            figs[name] = f"figures/{name}.png"

        save(annual_figure(a), "annual")
        groups = {
            "weekly_1_singles": [
                lab
                for lab in a.labels
                if a.design.scenarios[lab]["group"] in ("baseline", "single")
            ],
            "weekly_2_combinations": [
                lab
                for lab in a.labels
                if a.design.scenarios[lab]["group"] not in ("baseline", "single")
            ],
        }
        for name, labels in groups.items():
            if labels:
                save(weekly_figure(a, labels, name.split("_", 2)[-1], observed), name)
        if {decomposition.HISTORY, decomposition.NO_PANDEMIC} & set(a.labels):
            save(history_figure(a, observed), "history")
        if not a.decomposition.empty:
            save(decomposition.decomposition_figure(a.decomposition), "decomposition")
        if not a.sa.empty:
            save(sensitivity_figure(a), "sensitivity")
        if a.cp and not a.cp["archive"].empty:
            save(cheapest.front_figure(a.cp), "cheapest")
        if not a.regions.empty:
            save(region_figure(a), "regions")
        tables = {
            "runs.csv": a.summary,
            "annual.csv": a.annual,
            "paired_differences.csv": a.diffs,
            "decomposition.csv": a.decomposition,
            "costs.csv": a.costs,
            "doctor_types.csv": a.types,
            "adopting_doctors.csv": a.adopting,
            "regions.csv": a.regions,
            "least_change.csv": a.lc,
            "sensitivity.csv": a.sa,
            **_cheapest_tables(a),
            **_discovery_tables(a),
        }
        for name, frame in tables.items():
            atomic_write_text(tmp / "tables" / name, frame.to_csv(index=False, float_format="%.6g"))
        atomic_write_text(tmp / "report.md", markdown(a, figs))
    print(answer_text(a))
    print(f"report: {_rel(report_dir / 'report.md')}")
    return report_dir / "report.md"
