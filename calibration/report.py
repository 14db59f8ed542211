"""The calibration report: fit table, metrics, figures and ``report.md`` in the run folder.

Every file is written atomically (``infra.atomic``). Files of ``results/calibration/<run>/``:

* ``fit_table.csv`` — one row per training figure: observed, simulated mean and 90% interval over
  the report seeds (best set), the posterior predictive 90% interval and whether it covers the
  figure, the error, and the Bass baseline;
* ``convergence.csv`` (differential evolution per stage), ``abc_trace.csv`` (ABC-SMC per stage and
  generation: epsilon, evaluations, acceptance rate, ESS);
* ``posterior.csv``, ``identifiability.csv``, ``identifiability.md``, ``correlations.csv``;
* ``summary.json`` (what ``calibrated.json`` holds, plus wall time and git commit), ``report.md``;
* figures: ``acts_weekly.png``, ``acts_cumulative.png``, ``shares.png``, ``convergence.png``,
  ``abc.png``, ``parameters.png``.
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
    pred_sims: np.ndarray,
    bass_pred: np.ndarray,
) -> pd.DataFrame:
    """One row per target: observed vs simulated (best set: mean and 90% interval over seeds;
    posterior predictive: 90% interval and coverage), errors, Bass."""
    from .predictive import intervals

    fitted_ids = {t.id for t in fitted}
    mean = np.nanmean(sims, axis=0)  # runs stopped for runaway acts are NaN (counted apart)
    q05, q95 = np.nanquantile(sims, [0.05, 0.95], axis=0)
    pred = intervals(targets, pred_sims) if np.size(pred_sims) else None
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
                "predictive_q05": pred.predictive_q05[i] if pred is not None else np.nan,
                "predictive_q95": pred.predictive_q95[i] if pred is not None else np.nan,
                "covered": bool(pred.covered[i]) if pred is not None else False,
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
    # how far a share is off its figure; a lower bound ("more than 80%") is off only when short
    share_gap = shares.error.where(shares.bound != "lower", shares.error.clip(upper=0.0)).abs()
    acts = fit[fit.kind.isin(("weekly_count", "monthly_count")) & (fit.bound != "lower")]
    out: dict[str, Any] = {
        "count_log_rmse": float(np.sqrt(np.mean(counts.error**2))) if len(counts) else None,
        "acts_log_rmse": float(np.sqrt(np.mean(acts.error**2))) if len(acts) else None,
        "bass_count_log_rmse": (
            float(np.sqrt(np.nanmean(counts.bass_error**2))) if len(counts) else None
        ),
        "lower_bounds_met": bool(lower.lower_bound_met.astype(bool).all()),
        "lower_bounds": {r.target: bool(r.lower_bound_met) for r in lower.itertuples()},
        "shares_max_abs_error_pp": (float(100 * share_gap.max()) if len(shares) else None),
        "shares_within_5pp": bool((share_gap <= SHARE_LIMIT).all()),
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


def fig_weekly(best_runs, pred_runs, train_all, bass_fit, until):
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
    if pred_runs:
        ea = np.array([r["acts"] for r in pred_runs])
        ax.fill_between(
            x,
            *np.nanquantile(ea, [0.05, 0.95], axis=0),
            color="C0",
            alpha=0.1,
            lw=0,
            label="ABM posterior predictive, 90%",
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
    ax.set_title("Weekly acts: ABM (best set, posterior predictive), Bass baseline, observed")
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
    """Differential evolution (the point estimate), per stage."""
    fig, ax = _fig(8, 4)
    t = pd.DataFrame(trace)
    for i, (stage, g) in enumerate(t.groupby("stage", sort=True) if len(t) else []):
        ax.plot(g.nfev, g.best, f"C{i}-", label=f"stage {stage}: best")
        ax.plot(g.nfev, g["median"], f"C{i}:", label=f"stage {stage}: median of the generation")
    ax.set_yscale("log")
    ax.set_xlabel("objective evaluations")
    ax.set_ylabel("loss")
    ax.set_title("Point estimate: differential evolution, then refinement")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def fig_abc(abc_trace: pd.DataFrame):
    """ABC-SMC: tolerance and acceptance rate per generation, per stage."""
    fig, ax = _fig(8, 4)
    ax2 = ax.twinx()
    for i, (stage, g) in enumerate(abc_trace.groupby("stage", sort=True)):
        ax.plot(g.generation, g.epsilon, f"C{i}o-", label=f"stage {stage}: epsilon")
        ax2.plot(g.generation, g.acceptance_rate, f"C{i}x:", label=f"stage {stage}: acceptance")
    ax.set_yscale("log")
    ax2.set_yscale("log")
    ax.set_xlabel("generation")
    ax.set_ylabel("tolerance epsilon (loss)")
    ax2.set_ylabel("acceptance rate")
    ax.set_title("ABC-SMC: tolerance (circles) and acceptance rate (crosses)")
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(alpha=0.3)
    return fig


def fig_parameters(ident: pd.DataFrame, posterior: pd.DataFrame):
    """Each parameter's particles (size: weight), 90% credible interval and best set, on its
    prior range."""
    fig, ax = _fig(9, 0.35 * len(ident) + 1.5)
    w = posterior["weight"].to_numpy(dtype=float)
    size = 2 + 40 * w / w.max()
    for i, r in enumerate(ident.itertuples()):
        v = posterior[r.parameter].to_numpy(dtype=float)
        tr = np.log10 if r.scale == "log10" else (lambda z: z)
        lo, hi = tr(r.prior_low), tr(r.prior_high)
        u = (tr(v) - lo) / (hi - lo)
        jitter = np.linspace(-0.2, 0.2, u.size)
        ax.scatter(u, np.full(u.size, i) + jitter, s=size, color="C0", alpha=0.3, lw=0)
        ax.plot([(tr(r.q05) - lo) / (hi - lo), (tr(r.q95) - lo) / (hi - lo)], [i, i], "k-", lw=2)
        ax.plot([(tr(r.best) - lo) / (hi - lo)], [i], "r|", ms=14, mew=2)
    ax.set_yticks(
        range(len(ident)),
        [f"{r.parameter} ({r.verdict}, {r.width_ratio:.2f})" for r in ident.itertuples()],
        fontsize=8,
    )
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("position in the prior range (0 = low, 1 = high; log10 where marked)")
    ax.set_title("Posterior: particles (dots, size = weight), 90% interval (bar), best (red)")
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


def markdown(summary, run_info, table, ident_md, until) -> str:
    m = summary["fit"]
    cov = summary["predictive"]
    post = summary["posterior"]

    def share(c):
        return "n/a" if c is None else f"{c['covered']}/{c['figures']} ({c['share']:.0%})"

    lines = [
        "# Calibration report",
        "",
        f"- date: {summary['date']}; model commit `{summary.get('model_commit')}`; "
        f"targets sha256 `{summary['targets_sha256'][:16]}…`",
        f"- method: {summary['method']}",
        f"- fitted: {len(summary['fitted_targets'])} targets"
        + (f" (those ending by {until})" if until else " (every training figure of the stages)"),
        f"- wall time: {run_info['wall_seconds']:.0f} s this session",
        f"- best set ({summary['best_from']}): loss {summary['loss']:.4g} on the training seeds, "
        f"{summary['loss_report_seeds']:.4g} on the report seeds; Bass baseline "
        f"{summary['bass']['loss']:.4g}",
        f"- log-RMSE over the fitted point/approx counts: ABM {_f(m['count_log_rmse'])}, "
        f"Bass {_f(m['bass_count_log_rmse'])}",
        f"- lower bounds met: {m['lower_bounds_met']} {m['lower_bounds']}",
        f"- shares within 5 points: {m['shares_within_5pp']} "
        f"(largest error {_f(m['shares_max_abs_error_pp'], '.1f')} points)",
        f"- posterior: {post['rows']} particles ({post['distinct']} distinct), ESS "
        f"{post['ess']:.0f}, from stage {post['stage']}",
        f"- posterior predictive 90% intervals cover {share(cov['fitted'])} of the fitted figures"
        + (
            f" and {share(cov['not_fitted'])} of the figures not fitted"
            if cov.get("not_fitted")
            else ""
        ),
        "",
        "## Fit per window",
        "",
    ]
    for w, mw in m.get("windows", {}).items():
        cw = cov["fitted_by_window"].get(w)
        lines.append(
            f"- {w}: count log-RMSE ABM {_f(mw['count_log_rmse'])} (acts only "
            f"{_f(mw['acts_log_rmse'])}), Bass {_f(mw['bass_count_log_rmse'])}; shares within "
            f"5 points: {mw['shares_within_5pp']} (largest "
            f"{_f(mw['shares_max_abs_error_pp'], '.1f')} points); predictive coverage of the "
            f"fitted figures {share(cw)}"
        )
    lines += [
        "",
        "## Fit table",
        "",
        "error: log(simulated/observed) for counts, simulated − observed for shares. "
        "Intervals: 90% over the report seeds (best set) and the posterior predictive 90% "
        "interval (posterior draws, each on a fresh seed); covered: the figure is inside it "
        "(a lower bound: the interval reaches it).",
        "",
        md_table(
            table[
                [
                    "target",
                    "window",
                    "fitted",
                    "bound",
                    "observed",
                    "simulated_mean",
                    "simulated_q05",
                    "simulated_q95",
                    "predictive_q05",
                    "predictive_q95",
                    "covered",
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
    lines += ["## Inference", ""]
    for name, st in summary["stages"].items():
        abc = st["abc"]
        se = st.get("search")
        d = abc["diagnostics"]
        lines += [
            f"### Stage {name}: {st['description']}",
            "",
            f"- windows {', '.join(st['windows'])}; {st['fitted_targets']} figures; new "
            f"parameters: {', '.join(st['params'])}",
            "- point estimate: "
            + (
                f"{se['evaluations']} evaluations, {se['generations']} DE generations, loss "
                f"{se['best_loss']:.4g}, converged {se['converged']}"
                if se
                else "none (planning defaults)"
            ),
            f"- ABC-SMC: population {abc['population']}, {len(abc['epsilons'])} generations "
            f"(0 seeded at the point estimate), {abc['evaluations']} evaluations, "
            f"{abc['wall_seconds']:.0f} s; stopped: {d['stop_reason']}",
            f"- epsilon per generation: {', '.join(f'{e:.3g}' for e in abc['epsilons'])}",
            "- acceptance rate: " + ", ".join(f"{a:.3f}" for a in abc["acceptance_rates"]),
            "- ESS: " + ", ".join(f"{e:.0f}" for e in abc["ess"]),
            f"- convergence: last epsilon ratio {_f(d['epsilon_ratio_last'], '.3f')}, largest "
            f"move of a posterior mean in the last generation {_f(d['max_mean_shift_sd_last'])} "
            f"sd; stable: {d['stable']} ({d['stable_rule']})",
            "",
        ]
    lines += [
        "## Identifiability",
        "",
        ident_md,
        "- not fitted (kept at their base values): "
        + ", ".join(sorted(set(summary["uncertainties"]) - set(summary["calibrated"]))),
        "",
        "Figures: `acts_weekly.png`, `acts_cumulative.png`, `shares.png`, `convergence.png`, "
        "`abc.png`, `parameters.png`.",
        "",
    ]
    return "\n".join(lines)


def _f(v, fmt: str = ".3f") -> str:
    return "n/a" if v is None or not np.isfinite(v) else format(float(v), fmt)


def write(
    out_dir: Path,
    *,
    summary,
    run_info,
    fit_table,
    trace,
    abc_trace,
    posterior_frame,
    identifiability,
    correlations,
    ident_md,
    best_runs,
    pred_runs,
    bass_fit,
    train_all,
    until,
) -> None:
    """Write every report file into ``out_dir`` (each atomically)."""
    out_dir = Path(out_dir)
    atomic_write_text(out_dir / "fit_table.csv", fit_table.to_csv(index=False))
    atomic_write_text(out_dir / "convergence.csv", pd.DataFrame(trace).to_csv(index=False))
    atomic_write_text(out_dir / "abc_trace.csv", abc_trace.to_csv(index=False))
    atomic_write_text(out_dir / "posterior.csv", posterior_frame.to_csv(index=False))
    atomic_write_text(out_dir / "identifiability.csv", identifiability.to_csv(index=False))
    atomic_write_text(out_dir / "identifiability.md", "# Identifiability\n\n" + ident_md)
    atomic_write_text(out_dir / "correlations.csv", correlations.to_csv())
    atomic_write_json(out_dir / "summary.json", {**summary, "run": run_info})
    figures = {
        "acts_weekly.png": fig_weekly(best_runs, pred_runs, train_all, bass_fit, until),
        "acts_cumulative.png": fig_cumulative(best_runs, train_all, bass_fit, until),
        "shares.png": fig_shares(fit_table),
        "convergence.png": fig_convergence(trace),
        "abc.png": fig_abc(abc_trace),
        "parameters.png": fig_parameters(identifiability, posterior_frame),
    }
    for name, fig in figures.items():
        fig.tight_layout()
        atomic_savefig(fig, out_dir / name)
    text = markdown(summary, run_info, fit_table, ident_md, until)
    atomic_write_text(out_dir / "report.md", text)
