"""Baseline 15 Sep 2018 -> 31 Dec 2021: wall time and peak memory at the default and full scale.

Each run is a fresh Python process (so peak memory is that run's own), timed from the call to
``simulate`` to its return, population building included. CPU time is printed beside wall time:
on a shared machine wall time includes waiting for a core.
"""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = """
import json, resource, time
from model import simulate
t0, c0 = time.perf_counter(), time.process_time()
w = simulate(seed=1, scale={scale}, end="2021-12-31")
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2  # KiB -> GiB
print(json.dumps({{"wall": wall, "cpu": cpu, "peak_gib": peak, "acts": int(w.acts.sum()),
                   "weeks": len(w)}}))
"""


def run(scale: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD.format(scale=scale)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    from model import DEFAULT_SCALE

    print("baseline 2018-09-15 -> 2021-12-31 (fresh process each, population build included)")
    for label, scale in (("default scale", DEFAULT_SCALE), ("full scale", 1)):
        r = run(scale)
        print(
            f"  {label:13s} (1 agent = {scale:>3} persons): {r['wall']:7.2f} s wall, "
            f"{r['cpu']:6.2f} s CPU, "
            f"peak {r['peak_gib']:.2f} GiB, {r['weeks']} weeks, {r['acts']:,} acts"
        )


if __name__ == "__main__":
    main()
