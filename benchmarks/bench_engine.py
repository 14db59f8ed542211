"""The engine's cost, side by side in one table: the baseline and the history with COVID to end
2021 at the default and the full scale, the calibration window, peak memory, and the engine
against the one-object-per-agent reference in agent-steps per second.

    python -m benchmarks engine                 # or: make bench (all benchmarks)
    python -m benchmarks.bench_engine --repeats 3 --no-full

Every model run is a fresh Python process (its peak memory is its own). ``first call`` is the
first ``simulate`` of the process, population build included (what a new user waits for);
``best of N`` repeats the call with the population already built (cached), as calibrations and
experiments do; at full scale the population is not cached and the first call is the figure.
CPU time (user + system, of that process) is printed beside wall time: the machine may be shared,
and wall time then includes waiting for a core. Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CHILD = """
import json, resource, sys, time
from model import simulate
spec = json.loads(sys.argv[1])
def call():
    t0, c0 = time.perf_counter(), time.process_time()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    w = simulate(levers={"covid": spec["covid"]}, seed=spec["seed"], scale=spec["scale"],
                 end=spec["end"])
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0,
            "sys": r1.ru_stime - r0.ru_stime, "acts": int(w.acts.sum()),
            "patients": int(w.patients_ever.iloc[-1]), "weeks": len(w)}
first = call()
again = [call() for _ in range(spec["repeats"])]
best = min(again, key=lambda r: r["wall"]) if again else None
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB -> GiB
print(json.dumps({"first": first, "best": best, "peak_gib": peak}))
"""

#: (label, scale (None: the default), covid, end)
RUNS = [
    ("baseline", None, False, "2021-12-31"),
    ("history with COVID", None, True, "2021-12-31"),
    ("calibration window", None, False, "2019-09-15"),
    ("baseline", 1, False, "2021-12-31"),
    ("history with COVID", 1, True, "2021-12-31"),
]


def run(scale: int, covid: bool, end: str, repeats: int, seed: int = 0) -> dict:
    spec = {"scale": scale, "covid": covid, "end": end, "repeats": repeats, "seed": seed}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(spec)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def engine_vs_reference(regime: str) -> dict:
    """Agent-steps per second of the engine and of the reference on one synthetic region."""
    import datetime as dt

    from model import Levers, Uncertainties, simulate
    from model.reference import simulate_reference
    from model.synthetic import synthetic_inputs

    doctors, persons = (6_000, 3_000, 500, 500), 20_000
    inputs = synthetic_inputs(doctors=doctors, persons=persons)
    if regime == "quiet":  # 2018-2019 rules, 42 weeks
        # synthetic doctors are urban: shares and rates of an urban reference doctor
        unc = Uncertainties(external_rate_urban=0.225, open_share_urban=0.75, awareness_media=1.0)
        levers, end = Levers(), "2019-06-30"
    else:  # rules lifted, full coverage, lockdown demand: first uses dominate
        start = dt.date(2018, 9, 15)
        unc = Uncertainties(
            external_rate_urban=0.42,
            open_share_urban=0.84,
            awareness_media=1.0,
            lockdown_choice=5.0,
            lockdown_need_drop=0.0,
        )
        levers = Levers(
            known_patient_rule_until=start,
            pathway_rule_until=start,
            full_coverage_from=start,
            covid=True,
        )
        end = "2020-05-15"
    simulate(unc, levers, seed=0, scale=1, inputs=inputs, end="2018-10-01")  # build once
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        engine = simulate(unc, levers, seed=0, scale=1, inputs=inputs, end=end)
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    reference = simulate_reference(inputs, unc, levers, seed=0, end=end)["weekly"]
    t_reference = time.perf_counter() - t0
    steps = (sum(doctors) + persons) * len(engine)
    return {
        "weeks": len(engine),
        "engine": steps / min(times),
        "reference": steps / t_reference,
        "acts": (int(engine.acts.sum()), int(reference.acts.sum())),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_engine")
    parser.add_argument("--repeats", type=int, default=2, help="timed calls after the first")
    parser.add_argument("--no-full", action="store_true", help="skip the full-scale runs")
    parser.add_argument("--no-reference", action="store_true", help="skip engine vs reference")
    args = parser.parse_args([] if argv is None else argv)

    from model import DEFAULT_SCALE

    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}", flush=True)
    head = (
        f"{'run':<38}{'scale':>6}{'weeks':>6}"
        f"{'first call s':>17}{f'best of {args.repeats} s':>17}{'peak GiB':>9}"
        f"{'acts':>14}{'patients':>12}"
    )
    print(head)
    print(f"{'':<50}{'wall / CPU':>17}{'wall / CPU':>17}")
    for label, scale, covid, end in RUNS:
        scale = scale or DEFAULT_SCALE
        if scale == 1 and args.no_full:
            continue
        r = run(scale, covid, end, 0 if scale == 1 else args.repeats)
        f, b = r["first"], r["best"]
        best = f"{b['wall']:7.2f} / {b['cpu']:6.2f}" if b else f"{'-':>16}"
        print(
            f"{label + ' to ' + end:<38}{scale:>6}{f['weeks']:>6}"
            f"{f['wall']:8.2f} / {f['cpu']:6.2f}{best:>17}{r['peak_gib']:9.2f}"
            f"{f['acts']:>14,}{f['patients']:>12,}",
            flush=True,
        )
        if scale == 1:
            print(f"{'':<50}(system time {f['sys']:.1f} s of the CPU time)")
    if args.no_reference:
        return
    print()
    print("engine vs reference, agent-steps per second (10,000 doctors + 20,000 persons, scale 1)")
    for regime in ("quiet", "high volume"):
        r = engine_vs_reference(regime)
        print(
            f"  {regime:<12} {r['weeks']:>3} weeks: engine {r['engine']:14,.0f}, "
            f"reference {r['reference']:10,.0f}  ->  {r['engine'] / r['reference']:5.0f}x   "
            f"(acts {r['acts'][0]:,} vs {r['acts'][1]:,})",
            flush=True,
        )


if __name__ == "__main__":
    main(sys.argv[1:])
