"""Throughput of the executors on this machine, side by side in one run: model runs per minute with
1 and 2 local processes and with a local Dask cluster of 2 single-threaded workers, and Dask's
overhead per task (trivial tasks).

    python -m benchmarks execution                    # or: make bench
    python -m benchmarks.bench_execution --runs 8 --scale 100 --end 2021-12-31

Every executor runs the same distinct seeds (so every run builds its own population, as the first
run of a seed does in an experiment) after a warm-up that starts the processes and imports the
model; the table shows the start-up time separately. The executors are all started first and then
run in interleaved rounds (one batch of ``workers`` runs each, in turn), so that load from other
programs on the machine falls on all of them alike. ``load`` is the 1-minute load average before
and after. Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import math
import os
import time

#: Seeds of the timed runs (distinct, so no run reuses another's population).
FIRST_SEED = 1000


def model_run(job: tuple[int, int | None, str]) -> int:
    """One real model run (the experiment's work unit); returns its total acts."""
    from model import simulate

    seed, scale, end = job
    return int(simulate(seed=seed, scale=scale, end=end)["acts"].sum())


def warm_up(_: int) -> int:
    """Import the model in a worker (not timed as a run)."""
    import model  # noqa: F401

    return os.getpid()


def trivial(x: int) -> int:
    return x


def _executors(workers: int):
    from infra.execution import make_executor

    yield "serial (this process)", lambda: make_executor("local", 1)
    yield f"local pool, {workers} processes", lambda: make_executor("local", workers)
    try:
        import distributed  # noqa: F401
    except ImportError:
        print("dask[distributed] is not installed: no Dask figures (pip install '.[cluster]')")
        return
    yield (
        f"dask, local cluster of {workers} workers",
        lambda: make_executor("dask", dask_workers=workers, progress=False),
    )


def throughput(runs: int, scale: int | None, end: str, workers: int) -> list[dict]:
    """Runs per minute of each executor; rounds interleaved so that background load hits all."""
    from contextlib import ExitStack

    rounds = max(1, math.ceil(runs / workers))
    per_round = math.ceil(runs / rounds)
    with ExitStack() as stack:
        execs = []
        for name, factory in _executors(workers):
            t0 = time.perf_counter()
            ex = stack.enter_context(factory())
            ex.map(warm_up, range(2 * workers))
            execs.append({"executor": name, "ex": ex, "startup_s": time.perf_counter() - t0})
            execs[-1].update(wall_s=0.0, runs=0, totals=[])
        for r in range(rounds):
            jobs = [(FIRST_SEED + r * per_round + i, scale, end) for i in range(per_round)]
            for row in execs:
                t0 = time.perf_counter()
                row["totals"] += row["ex"].map(model_run, jobs)
                row["wall_s"] += time.perf_counter() - t0
                row["runs"] += len(jobs)
    reference = execs[0]["totals"]
    rows = []
    for row in execs:
        rows.append(
            {
                "executor": row["executor"],
                "startup_s": row["startup_s"],
                "runs": row["runs"],
                "wall_s": row["wall_s"],
                "runs_per_min": 60 * row["runs"] / row["wall_s"],
                "same": row["totals"] == reference,
            }
        )
    return rows


def overhead(tasks: int, workers: int) -> list[dict]:
    """Wall time per trivial task: batched (map of ``tasks``) and one at a time (round trip)."""
    rows = []
    for name, factory in _executors(workers):
        if name.startswith("serial"):
            continue
        with factory() as ex:
            ex.map(trivial, range(2 * workers))  # start the processes
            t0 = time.perf_counter()
            ex.map(trivial, range(tasks))
            batched = (time.perf_counter() - t0) / tasks
            rounds = 30
            t0 = time.perf_counter()
            for i in range(rounds):
                ex.map(trivial, [tasks + i])
            single = (time.perf_counter() - t0) / rounds
        rows.append({"executor": name, "batched_ms": 1e3 * batched, "round_trip_ms": 1e3 * single})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_execution")
    parser.add_argument("--runs", type=int, default=6, help="model runs per executor (default 6)")
    parser.add_argument("--scale", type=int, default=None, help="persons per patient agent")
    parser.add_argument("--end", default="2021-12-31", help="last day of each run")
    parser.add_argument("--workers", type=int, default=2, help="processes / Dask workers")
    parser.add_argument("--tasks", type=int, default=1000, help="trivial tasks for the overhead")
    args = parser.parse_args([] if argv is None else argv)

    from model import DEFAULT_SCALE

    scale = args.scale or DEFAULT_SCALE
    print(
        f"machine: {os.cpu_count()} CPUs; runs: simulate(scale={scale}, end={args.end}), "
        f"distinct seeds from {FIRST_SEED}",
        flush=True,
    )
    load0 = os.getloadavg()[0]
    rows = throughput(args.runs, scale, args.end, args.workers)
    over = overhead(args.tasks, args.workers)
    print(f"load average (1 min): {load0:.2f} before, {os.getloadavg()[0]:.2f} after")

    print()
    base = rows[0]["runs_per_min"]
    print(
        f"{'executor':<38}{'start-up s':>11}{'runs':>6}{'wall s':>8}{'runs/min':>10}"
        f"{'speed-up':>10}{'same totals':>13}"
    )
    for r in rows:
        print(
            f"{r['executor']:<38}{r['startup_s']:>11.1f}{r['runs']:>6}{r['wall_s']:>8.1f}"
            f"{r['runs_per_min']:>10.1f}{r['runs_per_min'] / base:>9.2f}x{str(r['same']):>13}"
        )
    print()
    print(f"overhead per trivial task ({args.tasks} tasks in one map; single-task round trip):")
    print(f"{'executor':<38}{'batched ms/task':>16}{'round trip ms':>15}")
    for r in over:
        print(f"{r['executor']:<38}{r['batched_ms']:>16.2f}{r['round_trip_ms']:>15.1f}")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
