"""One calibration run from start to finish: search, ensemble, baseline, evaluation, outputs.

The steps, in order:

1. the training targets (all of them, or those known by ``until``);
2. differential evolution over the calibrated uncertainties with K fixed replicate seeds
   (checkpointed, resumable; see :mod:`calibration.search`); the initial population is a Latin
   hypercube over the searched ranges plus one member at the planning defaults;
3. the ensemble of evaluated sets consistent with the data (:mod:`calibration.ensemble`);
4. the two-layer Bass baseline fitted to the same targets (:mod:`calibration.bass`);
5. the best set and a sample of the ensemble run on fresh *report* seeds against every training
   figure (those after ``until`` are then out of sample);
6. outputs: ``results/calibration/<run>/`` (:mod:`calibration.report`) and, for a full run,
   ``calibration/calibrated.json`` and ``calibration/ensemble.csv``.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from infra.atomic import atomic_write_json, atomic_write_text
from infra.provenance import git
from model import DEFAULT_SCALE, Uncertainties, clear_population_cache
from model.calendar import n_weeks_until, week_starts

from . import bass, ensemble, report
from .loss import count_log_rmse, loss
from .objective import (
    REPORT_CAPS,
    Objective,
    SearchSpace,
    guarded_run,
    report_seeds,
    training_seeds,
)
from .quantities import quantities
from .search import SearchSettings, differential_evolution
from .targets import OBSERVED_CSV, file_sha256, last_day, load_targets, training_targets

PACKAGE_DIR = Path(__file__).resolve().parent
ROOT = PACKAGE_DIR.parent
CALIBRATED_JSON = PACKAGE_DIR / "calibrated.json"
ENSEMBLE_CSV = PACKAGE_DIR / "ensemble.csv"
#: Ensemble members re-run (one report seed each) for the ensemble's predictive interval.
ENSEMBLE_RUNS = 40


@dataclass(frozen=True)
class CalibrationSettings:
    """Everything that determines a calibration's result (not where or how fast it runs)."""

    search: SearchSettings = field(default_factory=SearchSettings)
    replicates: int = 2  # K fixed seeds averaged by the objective
    scale: int = DEFAULT_SCALE
    until: str | None = None  # fit only the targets whose period ends by this date
    params: tuple[str, ...] | None = None  # searched uncertainties (None: those marked calibrate)
    report_replicates: int = 20  # fresh seeds for the fit table's mean and 90% interval
    ensemble_runs: int = ENSEMBLE_RUNS  # ensemble members re-run for the ensemble's interval
    ensemble_samples: int = 192  # sets sampled around the best for the ensemble (0: none)
    ensemble_spread: float = 0.03  # their box: +- this share of each range around the best
    base: tuple[
        tuple[str, Any], ...
    ] = ()  # fixed values of fields not searched (default: defaults)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["search"] = self.search.to_dict()
        d["params"] = list(self.params) if self.params else None
        d["base"] = dict(self.base)
        return d


def default_run_dir(until: str | None) -> Path:
    return ROOT / "results" / "calibration" / (f"until-{until}" if until else "full")


def _git(*args: str) -> str | None:
    return git(ROOT, *args) or None


def _replicate_job(job: tuple) -> dict[str, np.ndarray]:
    """One run for the report (top level: picklable for worker processes)."""
    values, seed, end, scale, targets = job
    frames = guarded_run(Uncertainties.from_dict(values), seed, end, scale, caps=REPORT_CAPS)
    # A report seed is used once: drop its population from the model's cache (about 50 MB each).
    clear_population_cache()
    if isinstance(frames, float):  # stopped: acts ran past REPORT_CAPS
        n = n_weeks_until(dt.date.fromisoformat(end))
        return {
            "quantities": np.full(len(targets), np.nan),
            "acts": np.full(n, np.nan),
            "week_start": week_starts(n).astype("datetime64[D]"),
        }
    w = frames["weekly"]
    return {
        "quantities": quantities(frames, list(targets)),
        "acts": w["acts"].to_numpy(dtype=float),
        "week_start": w["week_start"].to_numpy().astype("datetime64[D]"),
    }


@dataclass
class _Problem:
    """What a calibration fits: the targets, the searched space and the objective."""

    train_all: list  # every training target (the fit table shows them all)
    fitted: list  # those the search fits (all, or those known by ``until``)
    space: SearchSpace
    base: dict[str, Any]  # values of the uncertainties not searched
    seeds: list[int]  # the objective's fixed replicate seeds
    objective: Objective
    start: np.ndarray  # the planning defaults, clipped into the searched range
    sha: str  # checksum of the targets file


def _problem(settings: CalibrationSettings, observed: Path) -> _Problem:
    all_targets = load_targets(observed)
    fitted = training_targets(all_targets, settings.until)
    if not fitted:
        raise ValueError(f"--until {settings.until}: no training target ends by then")
    space = SearchSpace.from_specs(list(settings.params) if settings.params else None)
    base = {**Uncertainties().to_dict(), **dict(settings.base)}
    base = {k: v for k, v in base.items() if k not in space.names}
    seeds = training_seeds(settings.replicates)
    # The planning defaults (clipped into the searched range) join the initial population.
    start = np.clip(
        space.coords({**Uncertainties().to_dict(), **dict(settings.base)}), space.low, space.high
    )
    return _Problem(
        train_all=training_targets(all_targets),
        fitted=fitted,
        space=space,
        base=base,
        seeds=seeds,
        objective=Objective(space, tuple(fitted), tuple(seeds), settings.scale, base),
        start=start,
        sha=file_sha256(observed),
    )


def _search(
    problem: _Problem,
    settings: CalibrationSettings,
    out_dir: Path,
    map_fn,
    resume: bool,
    stop_after: int | None,
    progress: bool,
    log,
):
    """Differential evolution and refinement, checkpointed in ``out_dir``."""
    space, fitted = problem.space, problem.fitted
    # What the search depends on (the ensemble sampling after it does not change the search).
    search_dict = {
        k: v
        for k, v in settings.to_dict().items()
        if k not in ("ensemble_samples", "ensemble_spread")
    }
    fingerprint = {
        "settings": search_dict,
        "targets_sha256": problem.sha,
        "space": asdict(space),
        "fitted": [t.id for t in fitted],
    }
    log(
        f"calibrating {len(space.names)} uncertainties on {len(fitted)} targets "
        f"(to {last_day(fitted)}), {settings.replicates} replicate seed(s), "
        f"budget {settings.search.budget} evaluations"
    )
    return differential_evolution(
        problem.objective,
        space.bounds,
        settings.search,
        map_fn=map_fn,
        checkpoint=out_dir / "checkpoint.json",
        resume=resume,
        fingerprint=fingerprint,
        stop_after=stop_after,
        progress=progress,
        x0=problem.start,
    )


@dataclass
class _Ensemble:
    """The best set and the sets consistent with the data."""

    best: Uncertainties
    best_f: float
    frame: Any  # the ensemble (pandas DataFrame), best first
    parameters: Any  # marginal intervals and identification verdicts
    correlations: Any
    sampled: np.ndarray  # which evaluations were sampled around the best
    fs: np.ndarray  # every evaluation's loss
    use_samples: bool  # the ensemble is drawn from the sampled sets


def _ensemble(problem: _Problem, result, settings: CalibrationSettings, map_fn, log) -> _Ensemble:
    """The search's evaluations are mostly steps of the DE population and of the refinement along
    single axes, too clustered to show how far parameters can move together; a Latin hypercube of
    sets around the best is added (ABC-style rejection by the loss threshold)."""
    space = problem.space
    xs, fs = result.evaluated_x, result.evaluated_f
    sampled = np.zeros(len(fs), dtype=bool)
    if settings.ensemble_samples > 0:
        extra = ensemble.sample_around(
            space,
            result.x,
            settings.ensemble_samples,
            settings.ensemble_spread,
            seed=settings.search.seed,
        )
        log(f"ensemble: evaluating {len(extra)} sets around the best")
        extra_f = np.array(map_fn(problem.objective, list(extra)), dtype=float)
        xs, fs = np.vstack([xs, extra]), np.concatenate([fs, extra_f])
        sampled = np.concatenate([sampled, np.ones(len(extra_f), dtype=bool)])
    i_best = int(np.argmin(fs))  # ties: the earliest, i.e. the search's own best
    best_x, best_f = xs[i_best], float(fs[i_best])
    best = Uncertainties.from_dict({**problem.base, **space.values(best_x)})
    use_samples = (
        settings.ensemble_samples > 0
        and int((sampled & (fs <= ensemble.threshold(best_f))).sum()) >= ensemble.MIN_ROWS
    )
    ens = ensemble.select(space, xs, fs, problem.base, candidates=sampled if use_samples else None)
    return _Ensemble(
        best=best,
        best_f=best_f,
        frame=ens,
        parameters=ensemble.summary(
            space, ens, box=settings.ensemble_spread if use_samples else None
        ),
        correlations=ensemble.correlations(space, ens),
        sampled=sampled,
        fs=fs,
        use_samples=use_samples,
    )


def _report_runs(
    problem: _Problem, ens: _Ensemble, settings: CalibrationSettings, map_fn
) -> tuple[list, list, list[int]]:
    """The best set on fresh seeds, and a spread of the ensemble, run against every training
    figure: ``(best_runs, ensemble_runs, report_seeds)``."""
    train_all = problem.train_all
    end = last_day(train_all).isoformat()
    rseeds = report_seeds(settings.report_replicates)
    jobs = [(ens.best.to_dict(), s, end, settings.scale, tuple(train_all)) for s in rseeds]
    frame = ens.frame
    picks = np.unique(
        np.round(np.linspace(0, len(frame) - 1, min(settings.ensemble_runs, len(frame))))
    )
    ens_jobs = [
        (
            {k: frame.iloc[int(i)][k] for k in Uncertainties().to_dict()},
            rseeds[j % len(rseeds)],
            end,
            settings.scale,
            tuple(train_all),
        )
        for j, i in enumerate(picks)
    ]
    runs = map_fn(_replicate_job, jobs + ens_jobs)
    return runs[: len(jobs)], runs[len(jobs) :], rseeds


def _summary(
    problem: _Problem,
    settings: CalibrationSettings,
    result,
    ens: _Ensemble,
    bass_fit,
    metrics: dict[str, Any],
    fitted_mean: np.ndarray,
    rseeds: list[int],
) -> dict[str, Any]:
    """What ``calibrated.json`` and ``summary.json`` hold."""
    space, fitted, par = problem.space, problem.fitted, ens.parameters
    threshold = ensemble.threshold(ens.best_f)
    return {
        "uncertainties": ens.best.to_dict(),
        "calibrated": list(space.names),
        "loss": ens.best_f,
        "loss_report_seeds": loss(fitted, fitted_mean),
        "fit": metrics,
        "bass": {
            "params": bass_fit.params,
            "loss": bass_fit.loss,
            "count_log_rmse": count_log_rmse(fitted, bass.predict(bass_fit, fitted)),
        },
        "targets_sha256": problem.sha,
        "targets_file": "calibration/data/observed.csv",
        "fitted_targets": [t.id for t in fitted],
        "seeds": {"training": problem.seeds, "report": rseeds, "search": settings.search.seed},
        "settings": settings.to_dict(),
        "space": {
            n: {"low": lo, "high": hi, "scale": "log10" if lg else "linear"}
            for n, lo, hi, lg in zip(space.names, space.low, space.high, space.log, strict=True)
        },
        "search": {
            "evaluations": int(result.nfev),
            "best_loss": float(result.fun),
            "generations": int(result.generations),
            "converged": bool(result.converged),
        },
        "ensemble": {
            "rows": len(ens.frame),
            "threshold": threshold,
            "sampled_around_best": settings.ensemble_samples,
            "sampled_accepted": int((ens.sampled & (ens.fs <= threshold)).sum()),
            "from_samples": bool(ens.use_samples),
            "identified": [r.parameter for r in par.itertuples() if r.verdict == "identified"],
            "weakly_identified": [
                r.parameter for r in par.itertuples() if r.verdict == "weakly identified"
            ],
            "not_identified": [
                r.parameter for r in par.itertuples() if r.verdict == "not identified"
            ],
        },
        "model_commit": _git("log", "-1", "--format=%H", "--", "model/"),
        "date": dt.datetime.now(dt.UTC).date().isoformat(),
    }


def calibrate(
    settings: CalibrationSettings,
    out_dir: Path,
    map_fn=lambda fn, items: [fn(v) for v in items],
    resume: bool = False,
    observed: Path = OBSERVED_CSV,
    calibrated_path: Path | None = CALIBRATED_JSON,
    ensemble_path: Path | None = ENSEMBLE_CSV,
    progress: bool = True,
    stop_after: int | None = None,
    log=print,
) -> dict[str, Any] | None:
    """Run a calibration and write its outputs; returns the summary (None if stopped early).

    ``calibrated_path`` / ``ensemble_path`` are written only for a full run (``until`` is None);
    pass None to write neither. The steps are those of the module docstring.
    """
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    problem = _problem(settings, observed)
    result = _search(problem, settings, out_dir, map_fn, resume, stop_after, progress, log)
    if not result.finished:
        return None
    ens = _ensemble(problem, result, settings, map_fn, log)
    # Baseline, fitted to the same targets.
    bass_fit = bass.fit(problem.fitted, seed=settings.search.seed)
    bass_pred = bass.predict(bass_fit, problem.train_all)
    best_runs, ens_runs, rseeds = _report_runs(problem, ens, settings, map_fn)
    sims = np.array([r["quantities"] for r in best_runs])
    ens_sims = np.array([r["quantities"] for r in ens_runs])

    train_all, fitted = problem.train_all, problem.fitted
    fit_table = report.fit_table(train_all, fitted, sims, ens_sims, bass_pred)
    fitted_mean = np.nanmean(sims, axis=0)[[i for i, t in enumerate(train_all) if t in fitted]]
    metrics = report.metrics(fit_table)
    metrics["report_runs_stopped"] = int(np.isnan(sims).all(axis=1).sum())
    metrics["ensemble_runs_stopped"] = (
        int(np.isnan(ens_sims).all(axis=1).sum()) if ens_sims.size else 0
    )
    summary = _summary(problem, settings, result, ens, bass_fit, metrics, fitted_mean, rseeds)
    run_info = {
        "wall_seconds": time.perf_counter() - t0,
        "search_seconds": result.elapsed,  # summed over resumed sessions (this one: see wall)
        "git_commit": _git("rev-parse", "HEAD"),
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    report.write(
        out_dir,
        summary=summary,
        run_info=run_info,
        fit_table=fit_table,
        trace=result.trace,
        ensemble_frame=ens.frame,
        parameters=ens.parameters,
        correlations=ens.correlations,
        best_runs=best_runs,
        ens_runs=ens_runs,
        bass_fit=bass_fit,
        train_all=train_all,
        until=settings.until,
    )
    if settings.until is None:
        if ensemble_path is not None:
            atomic_write_text(ensemble_path, ens.frame.to_csv(index=False))
        if calibrated_path is not None:
            atomic_write_json(calibrated_path, summary)
    log(f"wrote {out_dir}" + ("" if settings.until else f", {calibrated_path}, {ensemble_path}"))
    return {**summary, "run": run_info}
