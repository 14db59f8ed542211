"""The calibration report: fit table, metrics, figures and ``report.md`` in the run folder.

Every file is written atomically (``infra.atomic``). Files of ``results/calibration/<run>/``:

* ``fit_table.csv`` — one row per training figure: observed, simulated mean and 90% interval over
  the report seeds (best set), the ensemble's 90% interval, the error, and the Bass baseline;
* ``convergence.csv`` — best and median loss per generation (and refinement step);
* ``ensemble.csv``, ``parameters.csv`` (marginal intervals, identification), ``correlations.csv``;
* ``summary.json`` (what ``calibrated.json`` holds, plus wall time and git commit), ``report.md``;
* figures: ``acts_weekly.png``, ``acts_cumulative.png``, ``shares.png``, ``convergence.png``,
  ``parameters.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from infra.atomic import atomic_savefig, atomic_write_json, atomic_write_text

from . import bass
from .loss import errors, tolerance
from .targets import COUNT_KINDS, WINDOWS, Target, window

SHARE_LIMIT = 0.05  # the closing note's "within 5 percentage points"


def fit_table(
    targets: list[Target],
    fitted: list[Target],
    sims: np.ndarray,
    ens_sims: np.ndarray,
    bass_pred: np.ndarray,
) -> pd.DataFrame:
    """One row per target: observed vs simulated (mean and 90% interval), errors, Bass."""
    fitted_ids = {t.id for t in fitted}
    mean = np.nanmean(sims, axis=0)  # runs stopped for runaway acts are NaN (counted apart)
    q05, q95 = np.nanquantile(sims, [0.05, 0.95], axis=0)
    if ens_sims.size:
        e05, e95 = np.nanquantile(ens_sims, [0.05, 0.95], axis=0)
    else:
        e05 = e95 = np.full(len(targets), np.nan)
    err = errors(targets, mean)
    bass_err = errors(targets, bass_pred)
    rows = []
    for i, t in enumerate(targets):
        raw = np.log(max(mean[i], 0.5) / t.value) if t.is_count else mean[i] - t.value
        b_raw = (
            np.log(max(bass_pred[i], 0.5) / t.value)
            if t.is_count and np.isfinite(bass_pred[i])
            else (bass_pred[i] - t.value)
        )
        rows.append(
            {
                "target": t.id,
                "window": window(t),
                "kind": t.kind,
                "scope": t.scope,
                "period_start": t.start.isoformat(),
                "period_end": t.end.isoformat(),
                "bound": t.bound,
                "fitted": t.id in fitted_ids,
                "observed": t.value,
                "simulated_mean": mean[i],
                "simulated_q05": q05[i],
                "simulated_q95": q95[i],
                "ensemble_q05": e05[i],
                "ensemble_q95": e95[i],
                "error": raw,  # log(sim/obs) for counts, sim - obs for shares
                "relative_error": mean[i] / t.value - 1 if t.is_count else np.nan,
                "z": err[i] / tolerance(t),
                "lower_bound_met": (mean[i] >= t.value) if t.bound == "lower" else np.nan,
                "bass": bass_pred[i],
                "bass_error": b_raw,
                "bass_relative_error": bass_pred[i] / t.value - 1 if t.is_count else np.nan,
                "bass_z": bass_err[i] / tolerance(t),
            }
        )
    return pd.DataFrame(rows)


def metrics(table: pd.DataFrame) -> dict[str, Any]:
    """Headline figures of the fit (fitted targets) and of the out-of-sample check (the rest),
    over both windows and for each window (``windows``)."""
    out = _window_metrics(table)
    out["windows"] = {
        w: _window_metrics(table[table.window == w]) for w in WINDOWS if (table.window == w).any()
    }
    return out


def _window_metrics(table: pd.DataFrame) -> dict[str, Any]:
    fit = table[table.fitted]
    counts = fit[fit.kind.str.endswith("_count") & (fit.bound != "lower")]
    lower = fit[fit.bound == "lower"]
    shares = fit[fit.kind.str.startswith("share")]
    acts = fit[fit.kind.isin(("weekly_count", "monthly_count")) & (fit.bound != "lower")]
    out: dict[str, Any] = {
        "count_log_rmse": float(np.sqrt(np.mean(counts.error**2))) if len(counts) else None,
        "acts_log_rmse": float(np.sqrt(np.mean(acts.error**2))) if len(acts) else None,
        "bass_count_log_rmse": (
            float(np.sqrt(np.nanmean(counts.bass_error**2))) if len(counts) else None
        ),
        "lower_bounds_met": bool(lower.lower_bound_met.astype(bool).all()),
        "lower_bounds": {r.target: bool(r.lower_bound_met) for r in lower.itertuples()},
        "shares_max_abs_error_pp": (float(100 * shares.error.abs().max()) if len(shares) else None),
        "shares_within_5pp": bool((shares.error.abs() <= SHARE_LIMIT).all()),
        "share_errors_pp": {r.target: round(100 * float(r.error), 2) for r in shares.itertuples()},
        "count_relative_errors": {
            r.target: round(float(r.relative_error), 4)
            for r in fit[fit.kind.isin(COUNT_KINDS)].itertuples()
        },
    }
    oos = table[~table.fitted]
    if len(oos):
        out["out_of_sample"] = {
            r.target: {
                "observed": r.observed,
                "abm": round(float(r.simulated_mean), 4),
                "abm_relative_error": _r(r.relative_error),
                "abm_error": round(float(r.error), 4),
                "bass": _r(r.bass),
                "bass_relative_error": _r(r.bass_relative_error),
            }
            for r in oos.itertuples()
        }
    return out


def _r(v) -> float | None:
    v = float(v)
    return round(v, 4) if np.isfinite(v) else None


# --------------------------------------------------------------------------------------------
# figures


def _fig(w: float = 9, h: float = 5):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=110)
    return fig, fig.add_subplot(1, 1, 1)


def _dates(ws) -> np.ndarray:
    return pd.to_datetime(np.asarray(ws, dtype="datetime64[D]")).to_numpy()


def fig_weekly(best_runs, ens_runs, train_all, bass_fit, until):
    fig, ax = _fig()
    ws = best_runs[0]["week_start"]
    x = _dates(ws) + np.timedelta64(3, "D")
    acts = np.array([r["acts"] for r in best_runs])
    ax.fill_between(
        x,
        *np.nanquantile(acts, [0.05, 0.95], axis=0),
        color="C0",
        alpha=0.25,
        lw=0,
        label="ABM best set, 90% over seeds",
    )
    if ens_runs:
        ea = np.array([r["acts"] for r in ens_runs])
        ax.fill_between(
            x,
            *np.nanquantile(ea, [0.05, 0.95], axis=0),
            color="C0",
            alpha=0.1,
            lw=0,
            label="ABM ensemble, 90%",
        )
    ax.plot(x, np.nanmean(acts, axis=0), color="C0", label="ABM best set, mean")
    end = str(ws[-1] + 6)
    b = bass.weekly_frame(bass_fit.params, end)
    ax.plot(b.week_start + pd.Timedelta(days=3), b.acts, color="C1", ls="--", label="Bass baseline")
    labelled = set()
    for t in train_all:
        if t.kind not in ("weekly_count", "monthly_count"):
            continue
        days = (t.end - t.start).days + 1
        v = t.value if t.kind == "weekly_count" else t.value / (days / 7)
        style = {"point": "o", "approx": "o", "lower": "^"}[t.bound]
        face = "none" if t.bound == "approx" else "k"
        lab = {"point": "observed", "approx": "observed (about)", "lower": "observed (more than)"}
        mid = np.datetime64(t.start) + np.timedelta64(days // 2, "D")
        ax.plot([np.datetime64(t.start), np.datetime64(t.end)], [v, v], color="k", lw=1)
        ax.plot(
            [mid],
            [v],
            marker=style,
            mfc=face,
            mec="k",
            ls="none",
            label=None if t.bound in labelled else lab[t.bound],
        )
        labelled.add(t.bound)
    if until:
        ax.axvline(np.datetime64(until), color="grey", ls=":", label=f"fitted up to {until}")
    ax.set_yscale("log")
    ax.set_ylabel("reimbursed teleconsultations per week")
    ax.set_title("Weekly acts: ABM (best set and ensemble), Bass baseline, observed")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    return fig


def fig_cumulative(best_runs, train_all, bass_fit, until):
    fig, ax = _fig()
    ws = best_runs[0]["week_start"]
    x = _dates(ws) + np.timedelta64(7, "D")
    cum = np.cumsum(np.array([r["acts"] for r in best_runs]), axis=1)
    ax.fill_between(x, *np.nanquantile(cum, [0.05, 0.95], axis=0), color="C0", alpha=0.25, lw=0)
    ax.plot(x, np.nanmean(cum, axis=0), color="C0", label="ABM best set (mean, 90% over seeds)")
    b = bass.weekly_frame(bass_fit.params, str(ws[-1] + 6))
    ax.plot(b.week_start + pd.Timedelta(days=7), b.acts.cumsum(), "C1--", label="Bass baseline")
    for t in train_all:
        if t.kind == "cumulative_count":
            m = "^" if t.bound == "lower" else "o"
            ax.plot([np.datetime64(t.end)], [t.value], marker=m, color="k", ls="none")
            ax.annotate(
                t.id,
                (np.datetime64(t.end), t.value),
                fontsize=7,
                xytext=(4, -10),
                textcoords="offset points",
            )
    if until:
        ax.axvline(np.datetime64(until), color="grey", ls=":")
    ax.set_ylabel("acts since 15 Sep 2018")
    ax.set_title("Cumulative acts (triangles: lower bounds)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def fig_shares(table: pd.DataFrame):
    rows = table[table.kind.str.startswith("share")].reset_index(drop=True)
    fig, ax = _fig(9, 0.4 * len(rows) + 1.5)
    y = np.arange(len(rows))
    ax.errorbar(
        rows.simulated_mean,
        y,
        xerr=[rows.simulated_mean - rows.simulated_q05, rows.simulated_q95 - rows.simulated_mean],
        fmt="o",
        color="C0",
        label="ABM (mean, 90% over seeds)",
    )
    ax.plot(rows.observed, y, "kx", ms=8, label="observed")
    ax.barh(
        y,
        2 * SHARE_LIMIT,
        left=rows.observed - SHARE_LIMIT,
        color="grey",
        alpha=0.15,
        label="observed ± 5 points",
    )
    ax.set_yticks(
        y,
        [f"{r.target}{'' if r.fitted else ' (not fitted)'}" for r in rows.itertuples()],
        fontsize=8,
    )
    ax.set_xlim(0, 1)
    ax.set_xlabel("share")
    ax.set_title("Shares: observed vs simulated")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    return fig


def fig_convergence(trace):
    fig, ax = _fig(8, 4)
    t = pd.DataFrame(trace)
    if len(t):
        ax.plot(t.nfev, t.best, "C0-", label="best")
        ax.plot(t.nfev, t["median"], "C0:", label="median of the generation")
    ax.set_yscale("log")
    ax.set_xlabel("objective evaluations")
    ax.set_ylabel("loss")
    ax.set_title("Convergence (differential evolution, then refinement)")
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def fig_parameters(parameters: pd.DataFrame, ensemble_frame: pd.DataFrame):
    fig, ax = _fig(9, 0.35 * len(parameters) + 1.5)
    for i, r in enumerate(parameters.itertuples()):
        v = ensemble_frame[r.parameter].to_numpy(dtype=float)
        tr = np.log10 if r.scale == "log10" else (lambda z: z)
        lo, hi = tr(r.low), tr(r.high)
        u = (tr(v) - lo) / (hi - lo)
        ax.plot(
            u, np.full(u.size, i) + np.linspace(-0.2, 0.2, u.size), ".", color="C0", ms=2, alpha=0.5
        )
        ax.plot([(tr(r.q05) - lo) / (hi - lo), (tr(r.q95) - lo) / (hi - lo)], [i, i], "k-", lw=2)
        ax.plot([(tr(r.best) - lo) / (hi - lo)], [i], "r|", ms=14, mew=2)
    ax.set_yticks(
        range(len(parameters)),
        [f"{r.parameter} ({r.verdict})" for r in parameters.itertuples()],
        fontsize=8,
    )
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("position in the searched range (0 = low, 1 = high; log10 where marked)")
    ax.set_title("Ensemble: sets (dots), 90% interval (bar), best (red)")
    ax.grid(alpha=0.3)
    return fig


# --------------------------------------------------------------------------------------------
# markdown


def md_table(df: pd.DataFrame, floatfmt: str = ".4g") -> str:
    def cell(v):
        if isinstance(v, float | np.floating):
            return "" if not np.isfinite(v) else format(float(v), floatfmt)
        return str(v)

    head = "| " + " | ".join(map(str, df.columns)) + " |"
    sep = "|" + "---|" * len(df.columns)
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *body])


def markdown(summary, run_info, table, parameters, pairs, until) -> str:
    m = summary["fit"]
    lines = [
        "# Calibration report",
        "",
        f"- date: {summary['date']}; model commit `{summary.get('model_commit')}`; "
        f"targets sha256 `{summary['targets_sha256'][:16]}…`",
        f"- fitted: {len(summary['fitted_targets'])} targets"
        + (f" (those ending by {until})" if until else " (every training figure)"),
        f"- search: {summary['search']['evaluations']} evaluations, "
        f"{summary['search']['generations']} DE generations, "
        f"converged: {summary['search']['converged']}; search wall time "
        f"{run_info['search_seconds']:.0f} s (summed over resumed sessions; recorded since the "
        f"checkpoint format has it), this session {run_info['wall_seconds']:.0f} s",
        f"- loss (training seeds): {summary['loss']:.4g}; on the report seeds: "
        f"{summary['loss_report_seeds']:.4g}; Bass baseline: {summary['bass']['loss']:.4g}",
        f"- log-RMSE over the fitted point/approx counts: ABM {m['count_log_rmse']:.3f}, "
        f"Bass {m['bass_count_log_rmse']:.3f}",
        f"- lower bounds met: {m['lower_bounds_met']} {m['lower_bounds']}",
        f"- shares within 5 points: {m['shares_within_5pp']} "
        f"(largest error {m['shares_max_abs_error_pp']:.1f} points)",
        "",
        "## Fit table",
        "",
        "error: log(simulated/observed) for counts, simulated − observed for shares. "
        "Intervals are 90% over the report seeds (best set) and over ensemble members.",
        "",
        md_table(
            table[
                [
                    "target",
                    "fitted",
                    "bound",
                    "observed",
                    "simulated_mean",
                    "simulated_q05",
                    "simulated_q95",
                    "ensemble_q05",
                    "ensemble_q95",
                    "error",
                    "bass",
                    "bass_error",
                ]
            ]
        ),
        "",
    ]
    if "out_of_sample" in m:
        rows = pd.DataFrame([{"target": k, **v} for k, v in m["out_of_sample"].items()])
        lines += [f"## Out of sample (fitted up to {until})", "", md_table(rows), ""]
    lines += [
        "## Parameters",
        "",
        (
            f"The ensemble holds the best set and the {summary['ensemble']['sampled_accepted']} "
            f"of {summary['ensemble']['sampled_around_best']} sets sampled within ±3% of each "
            "range around it whose loss is ≤ "
            if summary["ensemble"].get("from_samples")
            else "The ensemble holds every evaluated set with loss ≤ "
        )
        + f"{summary['ensemble']['threshold']:.3g} ({summary['ensemble']['rows']} sets after "
        "de-duplication and thinning). It is a set of near-optimal fits, not a posterior; "
        "verdicts are local (see calibration/ensemble.py).",
        "",
        md_table(parameters),
        "",
        f"- identified: {', '.join(summary['ensemble']['identified']) or 'none'}",
        f"- weakly identified: {', '.join(summary['ensemble']['weakly_identified']) or 'none'}",
        f"- not identified: {', '.join(summary['ensemble']['not_identified']) or 'none'}",
        "- not calibrated (kept at their defaults; the 2018-2019 data say nothing about them): "
        + ", ".join(sorted(set(summary["uncertainties"]) - set(summary["calibrated"]))),
        "",
        "Strongly correlated pairs (|rank correlation| ≥ 0.6): "
        + (", ".join(f"{a}–{b} ({r:+.2f})" for a, b, r in pairs) or "none"),
        "",
        "Figures: `acts_weekly.png`, `acts_cumulative.png`, `shares.png`, `convergence.png`, "
        "`parameters.png`.",
        "",
    ]
    return "\n".join(lines)


def write(
    out_dir: Path,
    *,
    summary,
    run_info,
    fit_table,
    trace,
    ensemble_frame,
    parameters,
    correlations,
    best_runs,
    ens_runs,
    bass_fit,
    train_all,
    until,
) -> None:
    """Write every report file into ``out_dir`` (each atomically)."""
    from .ensemble import strong_pairs

    out_dir = Path(out_dir)
    atomic_write_text(out_dir / "fit_table.csv", fit_table.to_csv(index=False))
    atomic_write_text(out_dir / "convergence.csv", pd.DataFrame(trace).to_csv(index=False))
    atomic_write_text(out_dir / "ensemble.csv", ensemble_frame.to_csv(index=False))
    atomic_write_text(out_dir / "parameters.csv", parameters.to_csv(index=False))
    atomic_write_text(out_dir / "correlations.csv", correlations.to_csv())
    atomic_write_json(out_dir / "summary.json", {**summary, "run": run_info})
    figures = {
        "acts_weekly.png": fig_weekly(best_runs, ens_runs, train_all, bass_fit, until),
        "acts_cumulative.png": fig_cumulative(best_runs, train_all, bass_fit, until),
        "shares.png": fig_shares(fit_table),
        "convergence.png": fig_convergence(trace),
        "parameters.png": fig_parameters(parameters, ensemble_frame),
    }
    for name, fig in figures.items():
        fig.tight_layout()
        atomic_savefig(fig, out_dir / name)
    text = markdown(summary, run_info, fit_table, parameters, strong_pairs(correlations), until)
    atomic_write_text(out_dir / "report.md", text)
