"""``telesim calibrate``: fit the uncertainties to the observed 2018-2019 figures.

    telesim calibrate [--budget N] [--replicates K] [--workers N] [--until DATE] [--resume]
                      [--out DIR] [--seed S] [--refine N] [--popsize P] [--scale N]
                      [--executor local|dask] [--scheduler ADDR] [--dask-workers N]

Writes the run folder (default ``results/calibration/full`` or ``results/calibration/until-DATE``)
and, for a full run (no ``--until``), ``calibration/calibrated.json`` and
``calibration/ensemble.csv``. See ``docs/calibration.md``.
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
)

DEFAULTS = {"budget": 640, "replicates": 2, "popsize": 2, "seed": 0, "refine": 480}


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "calibrate",
        help="fit the uncertainties to the observed 2018-2019 figures",
        description="Calibrate the model's uncertainties by differential evolution (checkpointed "
        "after every generation, resumable), report the fit, the parameter ensemble and a "
        "two-layer Bass baseline.",
    )
    p.add_argument(
        "--budget",
        type=positive_int,
        default=DEFAULTS["budget"],
        help="objective evaluations of the search (default %(default)s)",
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
        help="continue from the run folder's checkpoint (same settings)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="run folder (default results/calibration/full or .../until-DATE)",
    )
    p.add_argument(
        "--seed",
        type=nonneg_int,
        default=DEFAULTS["seed"],
        help="seed of the search's own random generator (default %(default)s)",
    )
    p.add_argument(
        "--popsize",
        type=positive_int,
        default=DEFAULTS["popsize"],
        help="population = popsize x number of parameters (default %(default)s)",
    )
    p.add_argument(
        "--refine",
        type=nonneg_int,
        default=DEFAULTS["refine"],
        help="evaluations of a local compass-search refinement (default %(default)s)",
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
        help="fresh seeds for the fit table's interval (default %(default)s)",
    )
    p.add_argument(
        "--ensemble-samples",
        type=nonneg_int,
        default=192,
        help="sets sampled around the best for the ensemble (default %(default)s)",
    )
    p.add_argument(
        "--params",
        default=None,
        help="comma-separated uncertainties to search (default: those marked fitted)",
    )
    p.add_argument(
        "--base",
        type=Path,
        default=None,
        help="parameter file (JSON, e.g. calibration/calibrated.json) fixing the uncertainties "
        "not searched and giving the search its starting point (default: planning defaults); "
        "for a calibration in stages",
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
        help="do not write calibration/calibrated.json and calibration/ensemble.csv",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_executor_arguments(p)
    return p


def _base_values(path: Path | None) -> tuple:
    """The uncertainties of a parameter file, as the settings' ``base`` (validated)."""
    if path is None:
        return ()
    from model.simulate import load_uncertainties

    return tuple(sorted(load_uncertainties(path).to_dict().items()))


def run(args) -> int:
    from calibration.pipeline import CalibrationSettings, calibrate, default_run_dir
    from calibration.search import SearchSettings
    from calibration.targets import OBSERVED_CSV
    from model import DEFAULT_SCALE

    params = tuple(s.strip() for s in args.params.split(",") if s.strip()) if args.params else None
    settings = CalibrationSettings(
        search=SearchSettings(
            budget=args.budget, popsize=args.popsize, seed=args.seed, refine=args.refine
        ),
        replicates=args.replicates,
        scale=args.scale or DEFAULT_SCALE,
        until=args.until,
        params=params,
        report_replicates=args.report_replicates,
        ensemble_samples=args.ensemble_samples,
        base=_base_values(args.base),
    )
    out = args.out or default_run_dir(args.until)
    observed = args.observed or OBSERVED_CSV
    if not Path(observed).is_file():
        raise ValueError(f"--observed: {observed} is not a file")
    if args.resume and not (Path(out) / "checkpoint.json").is_file():
        raise ValueError(f"--resume: no checkpoint in {out} (run once without --resume)")
    save = not args.no_save and observed == OBSERVED_CSV
    executor = executor_from_args(args)
    try:
        summary = calibrate(
            settings,
            out,
            map_fn=executor.map,
            resume=args.resume,
            observed=Path(observed),
            calibrated_path=None if not save else _pipeline_paths()[0],
            ensemble_path=None if not save else _pipeline_paths()[1],
            progress=not args.no_progress,
        )
    finally:
        executor.close()
    m = summary["fit"]
    print(
        f"loss {summary['loss']:.4g} (Bass {summary['bass']['loss']:.4g}); "
        f"count log-RMSE ABM {m['count_log_rmse']:.3f} vs Bass {m['bass_count_log_rmse']:.3f}; "
        f"lower bounds met: {m['lower_bounds_met']}; shares within 5 points: "
        f"{m['shares_within_5pp']} (max {m['shares_max_abs_error_pp']:.1f}); "
        f"wall {summary['run']['wall_seconds']:.0f} s"
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


def _pipeline_paths():
    from calibration.pipeline import CALIBRATED_JSON, ENSEMBLE_CSV

    return CALIBRATED_JSON, ENSEMBLE_CSV
