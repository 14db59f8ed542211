"""``telesim experiment``: scenarios × replicates (and optionally least change and sensitivity).

    telesim experiment [NAME|FILE ...] [--replicates R] [--workers N] [--out DIR]
                       [--least-change] [--sensitivity {morris,sobol}] [--report]

Every run is saved under ``DIR/runs/`` as it finishes; running the same command again skips what is
on disk, so an interrupted experiment resumes. See ``experiments/runner.py``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from cli.options import add_executor_arguments, executor_from_args, nonneg_int, positive_int

#: Defaults sized so that ``make run`` (scenarios, least change, Morris, report) stays within
#: 10 minutes on a 2-core machine; raise them for a study.
DEFAULT_REPLICATES = 4
DEFAULT_LC_ROUNDS = 1
DEFAULT_MORRIS_TRAJECTORIES = 2
DEFAULT_SOBOL_N = 32
#: The cheapest-package search and scenario discovery: about 1.3 CPU-seconds per run to the end
#: of 2021 (packages are heavier runs than the baseline), so the defaults, 32 packages x 8
#: replicates and 100 discovery runs, cost about 480 CPU-seconds (4 minutes of wall on 2 idle
#: cores); raise them for a study.
DEFAULT_CP_REPLICATES = 8
DEFAULT_CP_EVALUATIONS = 32
DEFAULT_CP_POPULATION = 16
DEFAULT_SD_SAMPLES = 100


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "experiment",
        help="run scenarios x replicates (resumable), optionally least change and sensitivity",
        description="Run each scenario (a name in experiments/scenarios/ or a .toml file; "
        "default: the standard set) for R replicates. Replicate r pairs a parameter set drawn "
        "from the calibration posterior (weighted) with a seed derived from --root-seed, the same "
        "in every scenario. Runs already in --out are skipped (resume).",
    )
    p.add_argument("scenarios", nargs="*", metavar="NAME|FILE", help="scenarios (default: all)")
    p.add_argument(
        "--exclude",
        nargs="+",
        default=[],
        metavar="NAME",
        help="scenarios to leave out of the standard set (e.g. as_it_happened)",
    )
    p.add_argument(
        "--replicates",
        type=positive_int,
        default=DEFAULT_REPLICATES,
        help=f"replicates per scenario (default {DEFAULT_REPLICATES})",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="experiment folder (default results/experiments)",
    )
    p.add_argument(
        "--root-seed", type=nonneg_int, default=None, help="root seed of the replicates' seeds"
    )
    p.add_argument("--end", default="2021-12-31", help="last simulated day (default 2021-12-31)")
    p.add_argument(
        "--scale", type=positive_int, default=None, help="persons per patient agent (model default)"
    )
    p.add_argument(
        "--ensemble",
        "--params-from",
        dest="ensemble",
        default="posterior",
        metavar="posterior|ensemble|best|FILE.csv",
        help="parameter sets: weighted draws from the calibration posterior (default; "
        "calibration/ensemble.csv if there is no posterior), the old ensemble, the best set "
        "only, or a CSV (weighted if it has a weight column)",
    )
    p.add_argument(
        "--least-change",
        action="store_true",
        help="also search each lever's least change that hits each target",
    )
    p.add_argument(
        "--lc-levers", nargs="+", default=None, metavar="LEVER", help="levers to search (all)"
    )
    p.add_argument(
        "--lc-replicates",
        type=positive_int,
        default=None,
        help="replicates per least-change point (default: --replicates)",
    )
    p.add_argument(
        "--lc-rounds",
        type=nonneg_int,
        default=DEFAULT_LC_ROUNDS,
        help=f"bisection rounds after the end points (default {DEFAULT_LC_ROUNDS})",
    )
    p.add_argument(
        "--sensitivity",
        choices=["morris", "sobol", "none"],
        default="none",
        help="sensitivity of the 2019 total to the uncertainties (default none)",
    )
    p.add_argument(
        "--morris-trajectories",
        type=positive_int,
        default=DEFAULT_MORRIS_TRAJECTORIES,
        help=f"Morris trajectories (default {DEFAULT_MORRIS_TRAJECTORIES})",
    )
    p.add_argument(
        "--sobol-n",
        type=positive_int,
        default=DEFAULT_SOBOL_N,
        help=f"Sobol base sample size, a power of 2 (default {DEFAULT_SOBOL_N})",
    )
    p.add_argument(
        "--cheapest",
        action="store_true",
        help="also search the cheapest package of levers that hits each target with P >= 0.5 "
        "and P >= 0.9 (NSGA-II over cost and P(hit); needs the 'decision' extra)",
    )
    p.add_argument(
        "--cp-levers", nargs="+", default=None, metavar="LEVER", help="levers a package sets (all)"
    )
    p.add_argument(
        "--cp-replicates",
        type=positive_int,
        default=DEFAULT_CP_REPLICATES,
        help=f"replicates per package, the experiment's first ones (default "
        f"{DEFAULT_CP_REPLICATES}, at most --replicates)",
    )
    p.add_argument(
        "--cp-evaluations",
        type=positive_int,
        default=DEFAULT_CP_EVALUATIONS,
        help=f"packages evaluated in all (default {DEFAULT_CP_EVALUATIONS})",
    )
    p.add_argument(
        "--cp-population",
        type=positive_int,
        default=DEFAULT_CP_POPULATION,
        help=f"NSGA-II population (default {DEFAULT_CP_POPULATION})",
    )
    p.add_argument(
        "--discovery",
        action="store_true",
        help="also run scenario discovery: PRIM boxes of the conditions under which each target "
        "is hit, over levers and the calibration's uncertainty (needs the 'decision' extra)",
    )
    p.add_argument(
        "--sd-samples",
        type=positive_int,
        default=DEFAULT_SD_SAMPLES,
        help=f"runs of the discovery design (default {DEFAULT_SD_SAMPLES})",
    )
    p.add_argument("--report", action="store_true", help="write the report when done")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_executor_arguments(p)
    return p


def run(args) -> int:
    from experiments import least_change, runner, sensitivity
    from experiments.scenarios import ALIASES, load_scenario, standard_scenarios

    t0 = time.perf_counter()
    out = args.out or runner.DEFAULT_OUT
    root_seed = runner.DEFAULT_ROOT_SEED if args.root_seed is None else args.root_seed
    # Validate everything before the first run: a bad scenario file stops here, nothing written.
    scenarios = [load_scenario(n) for n in args.scenarios] or standard_scenarios()
    exclude = {ALIASES.get(name, name) for name in args.exclude}  # former names accepted
    unknown = sorted(exclude - {s.name for s in scenarios})
    if unknown:
        raise ValueError(f"--exclude: {unknown} not among the scenarios to run")
    scenarios = [s for s in scenarios if s.name not in exclude]
    if args.least_change and "baseline" not in {s.name for s in scenarios}:
        scenarios.insert(0, load_scenario("baseline"))
    if args.lc_levers:
        least_change.lever_paths(args.lc_levers)
    if args.cheapest or args.discovery:
        from experiments import cheapest

        cheapest.search_space(args.cp_levers)
    from model.calendar import parse_end

    try:
        end = parse_end(args.end).isoformat()
    except ValueError as exc:
        raise ValueError(f"--end: {exc}") from None
    progress = not args.no_progress
    executor = executor_from_args(args)
    try:
        design, stats = runner.run_experiment(
            scenarios,
            replicates=args.replicates,
            out=out,
            executor=executor,
            root_seed=root_seed,
            end=end,
            scale=args.scale,
            params=args.ensemble,
            progress="scenarios" if progress else False,
        )
        print(
            f"scenarios: {len(scenarios)} x {args.replicates} replicates = {stats.total} runs "
            f"({stats.computed} computed, {stats.skipped} already on disk) in "
            f"{stats.seconds:.0f} s; parameter sets: {design.params_note}",
            file=sys.stderr,
        )
        if args.least_change:
            t1 = time.perf_counter()
            least_change.run_least_change(
                out,
                levers=args.lc_levers,
                replicates=args.lc_replicates or args.replicates,
                rounds=args.lc_rounds,
                executor=executor,
                progress=progress,
            )
            print(f"least change: {time.perf_counter() - t1:.0f} s", file=sys.stderr)
        if args.sensitivity != "none":
            t1 = time.perf_counter()
            record = sensitivity.run_sensitivity(
                out,
                method=args.sensitivity,
                trajectories=args.morris_trajectories,
                n=args.sobol_n,
                params=args.ensemble,
                root_seed=root_seed,
                scale=args.scale,
                executor=executor,
                progress=progress,
            )
            print(
                f"sensitivity ({args.sensitivity}): {len(record['runs'])} runs to 2019-12-31 in "
                f"{time.perf_counter() - t1:.0f} s",
                file=sys.stderr,
            )
        if args.cheapest:
            from experiments import cheapest

            _timed(
                "cheapest package",
                lambda: cheapest.run_cheapest(
                    out,
                    levers=args.cp_levers,
                    replicates=min(args.cp_replicates, args.replicates),
                    evaluations=args.cp_evaluations,
                    population=args.cp_population,
                    executor=executor,
                    progress=progress,
                ),
                lambda r: f"{len(r['evaluated'])} packages x {r['replicates']} replicates",
            )
        if args.discovery:
            from experiments import discovery

            _timed(
                "scenario discovery",
                lambda: discovery.run_discovery(
                    out,
                    samples=args.sd_samples,
                    levers=args.cp_levers,
                    executor=executor,
                    progress=progress,
                ),
                lambda r: f"{len(r['samples'])} runs",
            )
    finally:
        executor.close()
    print(f"experiment folder: {out} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    if args.report:
        from experiments import report

        report.write_report(out)
    return 0


def _timed(name: str, step, describe) -> None:
    """Run one step of the experiment and say what it did and how long it took."""
    t1 = time.perf_counter()
    record = step()
    print(f"{name}: {describe(record)} in {time.perf_counter() - t1:.0f} s", file=sys.stderr)
