"""``telesim calibrate``: a posterior of the uncertainties given the observed figures.

    telesim calibrate [--stages A|A,B] [--population N] [--generations G] [--min-epsilon E]
                      [--abc-evaluations N] [--budget N] [--refine N] [--replicates K]
                      [--until DATE] [--resume] [--out DIR] [--seed S] [--scale N]
                      [--workers N] [--executor local|dask] [--scheduler ADDR] [--dask-workers N]
    telesim calibrate --recovery [--stages A] ...     parameter recovery on synthetic figures

Per stage (``calibration/stages.py``): a point estimate by differential evolution, then ABC-SMC
with equal weights (``calibration/replenishment.py``; pyabc's importance-weighted sampler on
request). Writes the run folder (default ``results/calibration/full`` or
``results/calibration/until-DATE``; ``results/calibration/recovery`` for ``--recovery``) and, for a
full run (no ``--until``), ``calibration/calibrated.json`` and ``calibration/posterior.csv``. See
``docs/calibration.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cli.options import (
    add_executor_arguments,
    executor_from_args,
    iso_date_text,
    nonneg_int,
    positive_int,
    positive_ints,
)

DEFAULTS = {"replicates": 1, "popsize": 2, "seed": 0, "population": 200, "generations": 12}

#: The stages run when --stages is not given: stage B costs about 3.4 s an evaluation at the
#: default scale (against 0.1 s for A), so its posterior takes hours on two cores.
DEFAULT_STAGES = "A"


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _tolerances(text: str) -> tuple[float | str, ...]:
    """``auto`` or one number >= 0, or several separated by commas (one per stage, in order)."""
    parts = [t.strip() for t in text.split(",")]
    if not all(parts):
        raise argparse.ArgumentTypeError(
            f"expected X or X,Y,... (numbers >= 0 or auto), got {text!r}"
        )
    return tuple("auto" if t == "auto" else _positive_float(t) for t in parts)


def _share(text: str) -> float:
    value = _positive_float(text)
    if not value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}")
    return value


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "calibrate",
        help="infer the uncertainties from the observed figures (point estimate, then ABC-SMC)",
        description="Calibrate the model's uncertainties, stage by stage: a point estimate by "
        "differential evolution, then a posterior by ABC-SMC with equal weights; both "
        "checkpointed and resumable, with the same result for the same seed on any executor. "
        "Reports the fit (both windows, Bass baseline beside it), posterior predictive coverage "
        "and identifiability.",
    )
    g = p.add_argument_group("inference (ABC-SMC)")
    g.add_argument(
        "--stages",
        default=None,
        help="comma-separated stages to run, in order (default A: the 2018-2019 behaviour, "
        "about 20 minutes; A,B adds the 2020 regime's posterior, hours; see "
        "calibration/stages.py and docs/calibration.md)",
    )
    g.add_argument(
        "--population",
        type=positive_int,
        default=DEFAULTS["population"],
        help="particles per generation = distinct sets of the posterior (default %(default)s)",
    )
    g.add_argument(
        "--generations",
        type=nonneg_int,
        default=DEFAULTS["generations"],
        help="ABC generations per stage after generation 0, at most (default %(default)s)",
    )
    g.add_argument(
        "--min-epsilon",
        type=_positive_float,
        default=0.0,
        help="stop a stage once its tolerance (a loss) is at or below this (default 0)",
    )
    g.add_argument(
        "--min-acceptance",
        type=_share,
        default=0.02,
        help="stop a stage once a generation's acceptance rate is below this (default %(default)s)",
    )
    g.add_argument(
        "--alpha",
        type=_share,
        default=0.5,
        help="each tolerance is this weighted quantile of the last distances (default %(default)s)",
    )
    g.add_argument(
        "--start",
        choices=("prior", "point"),
        default="point",
        help="generation 0: a rejection sample from the prior, or normals around the point "
        "estimate that the moves then carry to the posterior (default %(default)s)",
    )
    g.add_argument(
        "--tolerance",
        type=_tolerances,
        default=None,
        help="final tolerance (a loss), X for every stage or X,Y one per stage, or auto (the "
        "point estimate's distance + chi2_k(0.9) / n, a 90%% region): once reached it is held "
        "and every particle moves, --hold generations (default: the stage table's, auto)",
    )
    g.add_argument(
        "--hold",
        type=positive_int,
        default=5,
        help="generations run at the final tolerance before a stage stops (default %(default)s)",
    )
    g.add_argument(
        "--abc-evaluations",
        type=positive_ints,
        default=None,
        help="ABC evaluations per stage, at most: N for every stage, or N,M,... one per stage run "
        "(default: the stage table's)",
    )
    g.add_argument(
        "--predictive-draws",
        type=positive_int,
        default=100,
        help="posterior draws run for the predictive intervals (default %(default)s)",
    )
    g.add_argument(
        "--recovery",
        action="store_true",
        help="parameter recovery: figures simulated from a known set (the committed "
        "calibration, or --truth FILE.json), recovered by the same inference",
    )
    g.add_argument(
        "--truth",
        type=Path,
        default=None,
        help="with --recovery: JSON file of true values (default: calibration/calibrated.json)",
    )
    d = p.add_argument_group("point estimate (differential evolution)")
    d.add_argument(
        "--budget",
        type=nonneg_int,
        default=None,
        help="evaluations of differential evolution per stage (default: the stage table's)",
    )
    d.add_argument(
        "--refine",
        type=nonneg_int,
        default=None,
        help="evaluations of the local refinement per stage (default: the stage table's)",
    )
    d.add_argument(
        "--popsize",
        type=positive_int,
        default=DEFAULTS["popsize"],
        help="population = popsize x number of parameters (default %(default)s)",
    )
    p.add_argument(
        "--replicates",
        type=positive_int,
        default=DEFAULTS["replicates"],
        help="fixed replicate seeds averaged per evaluation (default %(default)s)",
    )
    p.add_argument(
        "--until",
        type=iso_date_text,
        default=None,
        help="fit only the figures whose period ends by this date (out-of-sample check)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from the run folder's checkpoints and ABC histories (same settings)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="run folder (default results/calibration/full, .../until-DATE or .../recovery)",
    )
    p.add_argument(
        "--seed",
        type=nonneg_int,
        default=DEFAULTS["seed"],
        help="seed of the search's and the sampler's own random numbers (default %(default)s)",
    )
    p.add_argument(
        "--scale",
        type=positive_int,
        default=None,
        help="persons per patient agent (default: the model's default)",
    )
    p.add_argument(
        "--report-replicates",
        type=positive_int,
        default=20,
        help="fresh seeds for the best set's interval in the fit table (default %(default)s)",
    )
    p.add_argument(
        "--params",
        default=None,
        help="comma-separated uncertainties: fit only these (default: every stage's)",
    )
    p.add_argument(
        "--base",
        default=None,
        help="parameter file (JSON) fixing the uncertainties not searched and giving the search "
        "its starting point, or 'defaults' for the planning defaults (default: "
        "calibration/calibrated.json if present, so a stage-A run keeps the committed 2020 "
        "regime; with --recovery: the planning defaults, away from the truth)",
    )
    p.add_argument(
        "--observed",
        type=Path,
        default=None,
        help="targets file (default calibration/data/observed.csv)",
    )
    p.add_argument(
        "--no-save",
        action="store_true",
        help="do not write calibration/calibrated.json and calibration/posterior.csv",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_executor_arguments(p)
    return p


def _base_values(base: str | None, recovery: bool = False) -> tuple:
    """The settings' ``base`` (validated): a parameter file's uncertainties; ``None``: the
    committed calibration if present (the planning defaults for a recovery, whose truth it is);
    ``"defaults"``: the planning defaults."""
    from calibration.pipeline import CALIBRATED_JSON
    from model.simulate import load_uncertainties

    if base == "defaults" or (base is None and (recovery or not CALIBRATED_JSON.is_file())):
        return ()
    path = CALIBRATED_JSON if base is None else Path(base)
    return tuple(sorted(load_uncertainties(path).to_dict().items()))


def settings_from_args(args):
    from calibration import stages as stages_mod
    from calibration.inference import AbcSettings
    from calibration.pipeline import CalibrationSettings
    from calibration.search import SearchSettings
    from model import DEFAULT_SCALE

    def names(text):
        return tuple(s.strip() for s in text.split(",") if s.strip()) if text else None

    stages = stages_mod.with_budgets(
        stages_mod.select(names(args.stages or DEFAULT_STAGES)),
        de_budget=args.budget,
        de_refine=args.refine,
        abc_evaluations=args.abc_evaluations,
        tolerance=args.tolerance,
    )
    return CalibrationSettings(
        search=SearchSettings(popsize=args.popsize, seed=args.seed),
        abc=AbcSettings(
            population=args.population,
            generations=args.generations,
            alpha=args.alpha,
            min_epsilon=args.min_epsilon,
            min_acceptance=args.min_acceptance,
            seed=args.seed,
            start=args.start,
            hold=args.hold,
        ),
        stages=stages,
        replicates=args.replicates,
        scale=args.scale or DEFAULT_SCALE,
        until=args.until,
        params=names(args.params),
        report_replicates=args.report_replicates,
        predictive_draws=args.predictive_draws,
        base=_base_values(args.base, recovery=getattr(args, "recovery", False)),
    )


def run(args) -> int:
    from calibration.pipeline import CALIBRATED_JSON, POSTERIOR_CSV, calibrate, default_run_dir
    from calibration.targets import OBSERVED_CSV

    settings = settings_from_args(args)
    observed = args.observed or OBSERVED_CSV
    if not Path(observed).is_file():
        raise ValueError(f"--observed: {observed} is not a file")
    if args.recovery:
        return _recovery(args, settings, Path(observed))
    out = args.out or default_run_dir(args.until)
    if args.resume and not any(Path(out).glob("de-*.json")) and not any(Path(out).glob("abc-*")):
        raise ValueError(f"--resume: no checkpoint in {out} (run once without --resume)")
    save = not args.no_save and Path(observed) == OBSERVED_CSV
    executor = executor_from_args(args)
    try:
        summary = calibrate(
            settings,
            out,
            executor=executor,
            resume=args.resume,
            observed=Path(observed),
            calibrated_path=CALIBRATED_JSON if save else None,
            posterior_path=POSTERIOR_CSV if save else None,
            progress=not args.no_progress,
        )
    finally:
        executor.close()
    m, cov, post = summary["fit"], summary["predictive"], summary["posterior"]
    windows = "; ".join(
        f"{w}: count log-RMSE ABM {_f(v['count_log_rmse'])} vs Bass {_f(v['bass_count_log_rmse'])}"
        for w, v in m.get("windows", {}).items()
    )
    fitted = cov["fitted"]
    print(
        f"best loss {summary['loss']:.4g} (Bass {summary['bass']['loss']:.4g}); {windows}; "
        f"shares within 5 points: {m['shares_within_5pp']} (max "
        f"{_f(m['shares_max_abs_error_pp'], '.1f')}); posterior {post['rows']} sets "
        f"({post['distinct']} distinct, ESS {post['ess']:.0f}); predictive coverage "
        f"{fitted['covered']}/{fitted['figures']} fitted figures"
        + (
            f", {cov['not_fitted']['covered']}/{cov['not_fitted']['figures']} not fitted"
            if cov.get("not_fitted")
            else ""
        )
        + f"; wall {summary['run']['wall_seconds']:.0f} s"
    )
    for name, r in m.get("out_of_sample", {}).items():
        abm, bss = r["abm_relative_error"], r["bass_relative_error"]
        print(
            f"  out of sample {name}: observed {r['observed']:g}, ABM {r['abm']:.4g}"
            + (f" ({abm:+.0%})" if abm is not None else "")
            + (f", Bass {r['bass']:.4g} ({bss:+.0%})" if bss is not None else "")
        )
    print(f"report: {Path(out) / 'report.md'}")
    return 0


def _recovery(args, settings, observed: Path) -> int:
    import json

    from calibration import recovery
    from calibration.pipeline import ROOT

    out = args.out or ROOT / "results" / "calibration" / "recovery"
    truth = None
    if args.truth is not None:
        try:
            data = json.loads(Path(args.truth).read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"--truth: cannot read {args.truth}: {exc}") from None
        truth = data.get("uncertainties", data)
    executor = executor_from_args(args)
    try:
        result = recovery.recover(
            settings,
            out,
            truth=truth,
            executor=executor,
            resume=args.resume,
            observed=observed,
            progress=not args.no_progress,
        )
    finally:
        executor.close()
    s = result["summary"]
    print(
        f"recovery: true value inside the 90% credible interval for {s['inside']}/"
        f"{s['parameters']} parameters ({s['share_inside']:.0%}); wall {s['wall_seconds']:.0f} s"
    )
    print(f"report: {Path(out) / 'recovery.md'}")
    return 0


def _f(v, fmt: str = ".3f") -> str:
    return "n/a" if v is None else format(float(v), fmt)
