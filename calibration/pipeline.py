"""One calibration run from start to finish: per stage a point estimate then a posterior; the
baseline, the checks and the outputs.

The steps, in order:

1. the training targets (all of them, or those known by ``until``);
2. for each stage of :mod:`calibration.stages` (A: 2018-2019, then B: the 2020 regime on both
   windows), skipping a stage whose new windows have no fitted figure (``--until``):

   a. the point estimate: differential evolution over the stage's new parameters with K fixed
      replicate seeds, the earlier stages' parameters at their point estimate (checkpointed,
      resumable; :mod:`calibration.search`), initial population around the planning defaults;
   b. the posterior: ABC-SMC over the stage's new *and* earlier parameters, the earlier
      parameters' prior being the earlier posterior, the distance scoring the figures of the
      stage's new windows only (the earlier ones are in that prior: :func:`distance_targets`)
      (:mod:`calibration.replenishment`, equal weights, its state in the run folder; or pyabc's,
      :mod:`calibration.inference`, seeded at the point estimate, its history in the run
      folder; both resumable);

3. the best set: the lower-loss of the last point estimate and the best posterior particle,
   both scored on every figure of the last stage;
4. the two-layer Bass baseline fitted to the same targets (:mod:`calibration.bass`);
5. the best set on fresh *report* seeds, and posterior draws each on a fresh seed (posterior
   predictive, :mod:`calibration.predictive`), against every training figure (those after
   ``until`` are then out of sample); identifiability (:mod:`calibration.identifiability`);
6. outputs: ``results/calibration/<run>/`` (:mod:`calibration.report`) and, for a full run,
   ``calibration/calibrated.json`` and ``calibration/posterior.csv``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from infra.atomic import atomic_write_json, atomic_write_text
from infra.execution import SerialExecutor
from infra.provenance import git
from model import DEFAULT_SCALE, Uncertainties, clear_population_cache
from model.calendar import n_weeks_until, week_starts

from . import bass, identifiability, predictive, report
from . import stages as stages_mod
from .loss import count_log_rmse, loss, weight
from .objective import (
    REPORT_CAPS,
    Objective,
    SearchSpace,
    guarded_run,
    report_seeds,
    training_seeds,
)
from .quantities import quantities
from .search import SearchSettings, differential_evolution, population_size, smallest_budget
from .stages import Stage
from .targets import (
    OBSERVED_CSV,
    WINDOWS,
    Target,
    file_sha256,
    last_day,
    load_targets,
    window,
)
from .targets import training_targets as _training_targets

PACKAGE_DIR = Path(__file__).resolve().parent
ROOT = PACKAGE_DIR.parent
CALIBRATED_JSON = PACKAGE_DIR / "calibrated.json"
POSTERIOR_CSV = PACKAGE_DIR / "posterior.csv"
#: Posterior draws run (one fresh seed each) for the predictive intervals.
PREDICTIVE_DRAWS = 100


def _abc_settings():
    from .inference import AbcSettings

    return AbcSettings()


@dataclass(frozen=True)
class CalibrationSettings:
    """Everything that determines a calibration's result (not where or how fast it runs)."""

    search: SearchSettings = field(default_factory=SearchSettings)  # budget/refine: per stage
    abc: Any = field(default_factory=_abc_settings)  # calibration.inference.AbcSettings
    stages: tuple[Stage, ...] = stages_mod.STAGES
    replicates: int = 2  # K fixed seeds averaged by the objective (and the ABC distance)
    scale: int = DEFAULT_SCALE
    until: str | None = None  # fit only the targets whose period ends by this date
    params: tuple[str, ...] | None = None  # restrict every stage to these uncertainties
    report_replicates: int = 20  # fresh seeds for the fit table's mean and 90% interval
    predictive_draws: int = PREDICTIVE_DRAWS  # posterior draws for the predictive intervals
    base: tuple[
        tuple[str, Any], ...
    ] = ()  # fixed values of fields not fitted (default: planning defaults)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["search"] = self.search.to_dict()
        d["abc"] = self.abc.to_dict()
        d["stages"] = [s.to_dict() for s in self.stages]
        d["params"] = list(self.params) if self.params else None
        d["base"] = dict(self.base)
        return d


#: Stage fields only the ABC reads: left out of the point estimate's checkpoint fingerprint, so a
#: run resumed with a larger ABC budget reuses its point estimate.
ABC_ONLY_FIELDS = ("abc_evaluations", "tolerance")


def _point_only(stage: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in stage.items() if k not in ABC_ONLY_FIELDS}


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


# --------------------------------------------------------------------------------------------
# the stages


@dataclass
class StageRun:
    """One stage done: its figures, point estimate and posterior."""

    stage: Stage
    fitted: list[Target]
    params: tuple[str, ...]  # new parameters of the stage (after ``settings.params``)
    search: Any  # calibration.search.SearchResult, or None (no point search)
    point: dict[str, float]  # point estimate of every parameter fitted so far
    point_loss: float  # its loss on this stage's figures (training seeds)
    abc: Any  # calibration.inference.StageResult
    scored: list[Target] = field(default_factory=list)  # the figures of the ABC distance


#: The share of the approximate confidence region the automatic tolerance keeps.
AUTO_TOLERANCE_LEVEL = 0.9


def auto_tolerance(point_distance: float, n_params: int, scored: list[Target]) -> float:
    """The final tolerance ``--tolerance auto`` holds: the point estimate's distance plus
    chi2_k(0.9) / n, n the sum of the scored figures' weights. Why: the distance is a weighted
    mean of squared z-scores, so n x distance is a sum of squares; near its minimum,
    n x (distance - minimum) is about chi-squared with k (the parameters) degrees of freedom,
    and the parameter sets within chi2_k(0.9) / n of the minimum are the 90% confidence region
    of that Gaussian approximation. The point estimate's distance stands for the minimum (it is
    at or above it, so the region is, if anything, wider)."""
    from scipy.stats import chi2

    n = float(sum(weight(t) for t in scored))
    return float(point_distance + chi2.ppf(AUTO_TOLERANCE_LEVEL, n_params) / n)


def distance_targets(
    fitted: list[Target], new_windows: set[str], has_prior_stage: bool
) -> list[Target]:
    """The figures a stage's ABC distance scores: with an earlier stage, only those of its new
    windows. The earlier windows' figures already shaped the earlier posterior, which is this
    stage's prior for the earlier parameters; scoring them again would count them twice
    (sequential Bayes: p(a, b | D1, D2) is proportional to p(D2 | a, b) p(a | D1) p(b) when D1
    does not depend on b, as the 2018-2019 figures do not on the 2020 regime's parameters)."""
    if not has_prior_stage or not new_windows:
        return list(fitted)
    return [t for t in fitted if window(t) in new_windows]


def base_values(settings: CalibrationSettings) -> dict[str, Any]:
    """Every uncertainty at the value it keeps when not fitted (planning default or ``base``)."""
    return {**Uncertainties().to_dict(), **dict(settings.base)}


def _windows_before(stages: tuple[Stage, ...], i: int) -> set[str]:
    return {w for s in stages[:i] for w in s.windows}


def point_estimate(
    settings: CalibrationSettings,
    stage: Stage,
    params: tuple[str, ...],
    fitted: list[Target],
    base0: dict[str, Any],
    point: dict[str, float],
    out_dir: Path,
    executor,
    resume: bool = False,
    progress: bool = True,
    log=print,
    sha: str = "",
) -> tuple[SearchSpace, np.ndarray, float, Any]:
    """A stage's point estimate: differential evolution (checkpointed in the run folder as
    ``de-<stage>.json``, resumable) of ``params`` on ``fitted``, started at ``base0``, the other
    uncertainties at ``point`` (the earlier stages' estimates) else ``base0``; or, with no budget,
    the start and its loss. Returns ``(space, x, loss, search result or None)``."""
    seeds = training_seeds(settings.replicates)
    space = SearchSpace.from_specs(list(params))
    base_de = {k: v for k, v in {**base0, **point}.items() if k not in space.names}
    objective = Objective(space, tuple(fitted), tuple(seeds), settings.scale, base_de)
    start = np.clip(space.coords(base0), space.low, space.high)
    search = None
    if stage.de_budget > 0 or stage.de_refine > 0:
        search_settings = replace(
            settings.search, budget=max(stage.de_budget, 1), refine=stage.de_refine
        )
        log(
            f"stage {stage.name} ({stage.description}): point estimate of {len(params)} "
            f"parameters on {len(fitted)} figures (to {last_day(fitted)}), "
            f"{settings.replicates} replicate seed(s), budget {stage.de_budget} + "
            f"{stage.de_refine} evaluations"
        )
        search = differential_evolution(
            objective,
            space.bounds,
            search_settings,
            map_fn=executor.map,
            checkpoint=out_dir / f"de-{stage.name}.json",
            resume=resume and (out_dir / f"de-{stage.name}.json").is_file(),
            fingerprint={
                "settings": {
                    k: [_point_only(s) for s in v] if k == "stages" else v
                    for k, v in settings.to_dict().items()
                    if k not in ("abc", "report_replicates", "predictive_draws")
                },
                "stage": _point_only(stage.to_dict()),
                "targets_sha256": sha,
                "space": asdict(space),
                "fitted": [t.id for t in fitted],
                "base": base_de,
            },
            progress=progress,
            x0=start,
        )
        x, point_loss = search.x, float(search.fun)
    else:
        x, point_loss = start, float(objective(start))
    return space, x, point_loss, search


def stage_params(settings: CalibrationSettings, stage: Stage) -> tuple[str, ...]:
    """The parameters a stage fits: its own, restricted to ``settings.params`` if given."""
    return tuple(p for p in stage.params if settings.params is None or p in settings.params)


def check_budgets(settings: CalibrationSettings) -> None:
    """Refuse a differential-evolution budget that would evaluate nothing (a budget below one
    generation after the initial population leaves the search at its start with loss inf),
    before any stage runs."""
    for stage in settings.stages:
        n = len(stage_params(settings, stage))
        low, npop = smallest_budget(n, settings.search), population_size(n, settings.search)
        if n and 0 < stage.de_budget < low:
            raise ValueError(
                f"--budget: {stage.de_budget} evaluations for stage {stage.name} do not reach one "
                f"generation of differential evolution (population {npop} = popsize "
                f"{settings.search.popsize} x {n} parameters, evaluated first); allowed: 0 (no "
                f"search) or at least {low}"
            )


def run_stages(
    settings: CalibrationSettings,
    all_targets: list[Target],
    out_dir: Path,
    executor=None,
    resume: bool = False,
    progress: bool = True,
    log=print,
    abc_stop_after: int | None = None,
    sha: str = "",
) -> list[StageRun] | None:
    """The point estimate and the posterior of every stage (None if stopped on purpose)."""
    from . import inference, replenishment

    check_budgets(settings)
    executor = executor or SerialExecutor()
    out_dir = Path(out_dir)
    base0 = base_values(settings)
    seeds = training_seeds(settings.replicates)
    runs: list[StageRun] = []
    previous = None
    point: dict[str, float] = {}
    for i, stage in enumerate(settings.stages):
        fitted = _training_targets(all_targets, settings.until, windows=stage.windows)
        new_windows = set(stage.windows) - _windows_before(settings.stages, i)
        if not fitted and i == 0:
            raise ValueError(f"--until {settings.until}: no training target ends by then")
        if not fitted or (new_windows and not any(window(t) in new_windows for t in fitted)):
            log(f"stage {stage.name}: no fitted figure in {sorted(new_windows)}; skipped")
            break
        params = stage_params(settings, stage)
        if not params:
            log(f"stage {stage.name}: no parameter left to fit (--params); skipped")
            break
        # a. the point estimate of the new parameters, the earlier ones at theirs
        space, x, point_loss, search = point_estimate(
            settings, stage, params, fitted, base0, point, out_dir, executor, resume, progress,
            log, sha,
        )  # fmt: skip
        point = {**point, **space.values(x)}
        # b. the posterior of the new and earlier parameters; the distance on the stage's new
        # windows only: the earlier windows' figures are in the prior (the earlier posterior)
        names = [*([] if previous is None else previous.names), *params]
        abc_space = SearchSpace.from_specs(names)
        base_abc = {k: v for k, v in base0.items() if k not in abc_space.names}
        scored = distance_targets(fitted, new_windows, previous is not None)
        problem = inference.StageProblem(
            stage.name,
            Objective(abc_space, tuple(scored), tuple(seeds), settings.scale, base_abc),
            np.clip(abc_space.coords({**base0, **point}), abc_space.low, abc_space.high),
            stage.abc_evaluations,
            previous,
        )
        log(
            f"stage {stage.name}: ABC-SMC over {len(names)} parameters on {len(scored)} "
            f"figures ({', '.join(sorted({window(t) for t in scored}))}), population "
            f"{settings.abc.population}, at most {settings.abc.generations} generations and "
            f"{stage.abc_evaluations} evaluations"
        )
        sampler = replenishment if settings.abc.method == "replenishment" else inference
        abc_settings = settings.abc
        tolerance = stage.tolerance
        if tolerance == "auto":
            tolerance = auto_tolerance(float(problem.objective(problem.center)), len(names), scored)
            log(
                f"stage {stage.name}: final tolerance {tolerance:.4g} (the point estimate's "
                f"distance + chi2_{len(names)}(0.9) / the figures' weight)"
            )
        if tolerance > 0:
            abc_settings = replace(abc_settings, tolerance=float(tolerance))
        result = sampler.run_stage(
            problem,
            abc_settings,
            out_dir,
            executor=executor,
            resume=resume,
            stop_after=abc_stop_after,
            progress=progress,
            log=log,
        )
        if not result.finished:
            return None
        runs.append(StageRun(stage, fitted, params, search, point, point_loss, result, scored))
        previous = result.posterior
    return runs


# --------------------------------------------------------------------------------------------
# report runs and the summary


def _report_runs(
    settings: CalibrationSettings, best: Uncertainties, posterior, train_all, executor, progress
):
    """The best set on the report seeds and posterior draws on fresh seeds, against every
    training figure: ``(best_runs, predictive_runs, report_seeds, draw_indices)``."""
    from .inference import ordered_map

    end = last_day(train_all).isoformat()
    rseeds = report_seeds(settings.report_replicates)
    jobs = [(best.to_dict(), s, end, settings.scale, tuple(train_all)) for s in rseeds]
    idx = predictive.draw(posterior.weights, settings.predictive_draws, seed=settings.abc.seed)
    pseeds = predictive.predictive_seeds(len(idx))
    jobs += [
        (posterior.values(int(i)), s, end, settings.scale, tuple(train_all))
        for i, s in zip(idx, pseeds, strict=True)
    ]
    runs = ordered_map(executor, _replicate_job, jobs, "report runs", progress)
    return runs[: len(rseeds)], runs[len(rseeds) :], rseeds, idx


@dataclass
class FitReport:
    """The best set on the report seeds and the posterior draws, against every training figure:
    the fit table, its metrics and the predictive coverage, with the runs behind them."""

    table: pd.DataFrame
    metrics: dict[str, Any]
    coverage: dict[str, Any]
    best_runs: list[dict]
    pred_runs: list[dict]
    report_seeds: list[int]
    draws: np.ndarray

    def mean_on(self, train_all: list[Target], targets: list[Target]) -> np.ndarray:
        """The best set's mean over the report seeds of each of ``targets`` (``train_all``
        order)."""
        sims = np.array([r["quantities"] for r in self.best_runs])
        return np.nanmean(sims, axis=0)[[i for i, t in enumerate(train_all) if t in targets]]


def fit_report(
    settings: CalibrationSettings,
    best: Uncertainties,
    posterior,
    train_all: list[Target],
    fitted: list[Target],
    bass_pred,
    executor,
    progress: bool,
) -> FitReport:
    """Run the best set and the posterior draws (:func:`_report_runs`) and score them; the
    figures in ``fitted`` are marked fitted in the table, the others out of sample."""
    best_runs, pred_runs, rseeds, draws = _report_runs(
        settings, best, posterior, train_all, executor, progress
    )
    sims = np.array([r["quantities"] for r in best_runs])
    pred_sims = np.array([r["quantities"] for r in pred_runs])
    table = report.fit_table(train_all, fitted, sims, pred_sims, bass_pred)
    metrics = report.metrics(table)
    metrics["report_runs_stopped"] = int(np.isnan(sims).all(axis=1).sum())
    metrics["predictive_runs_stopped"] = int(np.isnan(pred_sims).all(axis=1).sum())
    coverage = predictive.coverage(table)
    return FitReport(table, metrics, coverage, best_runs, pred_runs, rseeds, draws)


def _stage_summary(run: StageRun) -> dict[str, Any]:
    return {
        "description": run.stage.description,
        "windows": list(run.stage.windows),
        "params": list(run.params),
        "fitted_targets": len(run.fitted),
        "search": None
        if run.search is None
        else {
            "evaluations": int(run.search.nfev),
            "best_loss": float(run.search.fun),
            "generations": int(run.search.generations),
            "converged": bool(run.search.converged),
        },
        "point_loss": run.point_loss,
        "abc": abc_summary(run.abc),
    }


def abc_summary(abc) -> dict[str, Any]:
    """A stage's ABC in the record: per-generation trace, evaluations, wall time, diagnostics
    (``abc``: a :class:`calibration.inference.StageResult`)."""
    trace = abc.trace
    return {
        "method": abc.method,
        "population": len(abc.posterior.weights),
        "distinct": [r.get("distinct") for r in trace],
        "epsilons": [r["epsilon"] for r in trace],
        "evaluations_per_generation": [r["evaluations"] for r in trace],
        "acceptance_rates": [r["acceptance_rate"] for r in trace],
        "ess": [r["ess"] for r in trace],
        "evaluations": int(abc.evaluations),
        "wall_seconds": float(sum(r["wall_seconds"] or 0.0 for r in trace)),
        "diagnostics": abc.diagnostics,
    }


def _particle_loss(run: StageRun, settings: CalibrationSettings, post) -> float:
    """The best particle's loss on every figure of its stage (the point estimate's measure):
    its distance when that scored them all, else one more evaluation on the training seeds."""
    if len(run.scored) == len(run.fitted):
        return float(post.loss[0])
    seeds = tuple(training_seeds(settings.replicates))
    objective = Objective(post.space, tuple(run.fitted), seeds, settings.scale, dict(post.base))
    return float(objective(post.x[0]))


def _distinct(frame: pd.DataFrame, names) -> int:
    return int(len(frame[list(names)].drop_duplicates()))


def calibrate(
    settings: CalibrationSettings,
    out_dir: Path,
    executor=None,
    resume: bool = False,
    observed: Path = OBSERVED_CSV,
    calibrated_path: Path | None = CALIBRATED_JSON,
    posterior_path: Path | None = POSTERIOR_CSV,
    progress: bool = True,
    abc_stop_after: int | None = None,
    log=print,
) -> dict[str, Any] | None:
    """Run a calibration and write its outputs; returns the summary (None if stopped early).

    ``calibrated_path`` / ``posterior_path`` are written only for a full run (``until`` is None);
    pass None to write neither. The steps are those of the module docstring. ``executor`` (an
    :mod:`infra.execution` executor; default: this process) never changes the result.
    """
    t0 = time.perf_counter()
    executor = executor or SerialExecutor()
    out_dir = Path(out_dir)
    all_targets = load_targets(observed)
    train_all = _training_targets(all_targets)
    sha = file_sha256(observed)
    runs = run_stages(
        settings, all_targets, out_dir, executor, resume, progress, log, abc_stop_after, sha
    )
    if runs is None:
        return None
    last = runs[-1]
    post = last.abc.posterior
    base0 = base_values(settings)
    particle_loss = _particle_loss(last, settings, post)
    if last.point_loss <= particle_loss:
        best_values, best_loss = {**base0, **last.point}, last.point_loss
        best_from = f"point estimate of stage {last.stage.name}"
    else:
        best_values, best_loss = post.values(0), particle_loss
        best_from = f"best particle of the stage-{last.stage.name} posterior"
    best = Uncertainties.from_dict(best_values)

    log("report: baseline, best set on report seeds, posterior predictive draws")
    bass_fit = bass.fit(last.fitted, seed=settings.search.seed)
    bass_pred = bass.predict(bass_fit, train_all)
    fitted = last.fitted
    checked = fit_report(settings, best, post, train_all, fitted, bass_pred, executor, progress)
    fit_table, metrics, coverage = checked.table, checked.metrics, checked.coverage
    best_runs, pred_runs = checked.best_runs, checked.pred_runs
    rseeds, draws = checked.report_seeds, checked.draws
    fitted_mean = checked.mean_on(train_all, fitted)

    ident = identifiability.table(post)
    corr = identifiability.correlations(post)
    ident_md = identifiability.markdown(ident, corr)
    frame = post.frame()
    posterior_text = frame.to_csv(index=False)
    import pyabc

    summary = {
        "method": (
            "point estimate by differential evolution (scipy), then per stage "
            f"({', '.join(r.stage.name for r in runs)}) "
            + (
                "ABC-SMC with equal weights (replenishment with Metropolis-Hastings moves, "
                "Drovandi & Pettitt 2011), generation 0 "
                + (
                    "around the point estimate (the moves carry it to the posterior)"
                    if settings.abc.start == "point"
                    else "a rejection sample from the prior"
                )
                + "; see calibration/replenishment.py"
                if settings.abc.method == "replenishment"
                else f"ABC-SMC (pyabc {pyabc.__version__}), generation 0 seeded at the point "
                "estimate; see calibration/inference.py"
            )
        ),
        "uncertainties": best.to_dict(),
        "best_from": best_from,
        "calibrated": list(post.names),
        "loss": best_loss,
        "loss_report_seeds": loss(fitted, fitted_mean),
        "fit": metrics,
        "predictive": coverage,
        "bass": {
            "params": bass_fit.params,
            "loss": bass_fit.loss,
            "count_log_rmse": count_log_rmse(fitted, bass.predict(bass_fit, fitted)),
        },
        "targets_sha256": sha,
        "targets_file": "calibration/data/observed.csv",
        "fitted_targets": [t.id for t in fitted],
        "seeds": {
            "training": training_seeds(settings.replicates),
            "report": rseeds,
            "predictive": predictive.predictive_seeds(len(draws)),
            "search": settings.search.seed,
            "abc": settings.abc.seed,
        },
        "settings": settings.to_dict(),
        "space": {
            n: {"low": lo, "high": hi, "scale": "log10" if lg else "linear"}
            for n, lo, hi, lg in zip(
                post.space.names, post.space.low, post.space.high, post.space.log, strict=True
            )
        },
        "stages": {r.stage.name: _stage_summary(r) for r in runs},
        "posterior": {
            "file": "calibration/posterior.csv",
            "stage": last.stage.name,
            "rows": len(frame),
            "distinct": _distinct(frame, post.names),
            "ess": post.ess(),
            "sha256": hashlib.sha256(posterior_text.encode()).hexdigest(),
            "predictive_draws": len(draws),
            "predictive_distinct_draws": len(set(int(i) for i in draws)),
        },
        "identifiability": identifiability.record_section(ident, corr),
        "unstaged": stages_mod.unstaged(settings.stages),
        "windows": list(WINDOWS),
        "model_commit": _git("log", "-1", "--format=%H", "--", "model/"),
        "date": dt.datetime.now(dt.UTC).date().isoformat(),
    }
    abc_trace = pd.DataFrame([{"stage": r.stage.name, **row} for r in runs for row in r.abc.trace])
    de_trace = [
        {"stage": r.stage.name, **row}
        for r in runs
        if r.search is not None
        for row in r.search.trace
    ]
    run_info = {
        "wall_seconds": time.perf_counter() - t0,
        "git_commit": _git("rev-parse", "HEAD"),
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    report.write(
        out_dir,
        summary=summary,
        run_info=run_info,
        fit_table=fit_table,
        trace=de_trace,
        abc_trace=abc_trace,
        posterior_frame=frame,
        identifiability=ident,
        correlations=corr,
        ident_md=ident_md,
        best_runs=best_runs,
        pred_runs=pred_runs,
        bass_fit=bass_fit,
        train_all=train_all,
        until=settings.until,
    )
    if settings.until is None:
        if posterior_path is not None:
            atomic_write_text(posterior_path, posterior_text)
        if calibrated_path is not None:
            atomic_write_json(calibrated_path, summary)
    log(
        f"wrote {out_dir}"
        + (
            f", {calibrated_path}, {posterior_path}"
            if settings.until is None and calibrated_path
            else ""
        )
    )
    return {**summary, "run": run_info}
