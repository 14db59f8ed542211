"""Run every ``benchmarks/bench_*.py`` module's ``main()`` and print its figures.

    python -m benchmarks              # all of them, in name order
    python -m benchmarks engine       # only bench_engine.py (names with or without "bench_")

A benchmark that fails is reported and the others still run; the exit status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def discover() -> list[str]:
    """Names of the ``bench_*`` modules in this folder, sorted."""
    return sorted(m.name for m in pkgutil.iter_modules([str(HERE)]) if m.name.startswith("bench_"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    args = parser.parse_args(argv)
    available = discover()
    wanted = [n if n.startswith("bench_") else f"bench_{n}" for n in args.names] or available
    unknown = sorted(set(wanted) - set(available))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; available: {available or 'none'}")
    if not wanted:
        print("no benchmarks yet (add benchmarks/bench_<name>.py with a main())")
        return 0
    failed = []
    for name in wanted:
        print(f"=== {name} ===", flush=True)
        t0 = time.perf_counter()
        try:
            module = importlib.import_module(f"{__package__ or 'benchmarks'}.{name}")
            if not hasattr(module, "main"):
                raise AttributeError(f"{name} has no main()")
            module.main()
        except Exception:
            traceback.print_exc()
            failed.append(name)
        print(f"--- {name}: {time.perf_counter() - t0:.1f} s\n", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
