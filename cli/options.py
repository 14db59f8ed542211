"""Argument types and shared options of the command modules (argparse ``type=`` callables).

Every command parses numbers, dates and ports with these, so a bad value gets the same kind of
one-line message naming the option; ``add_executor_arguments`` / ``executor_from_args`` are the
options of every command that runs many model runs (``experiment``, ``calibrate``).
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from infra.execution import EXECUTOR_KINDS, Executor, make_executor


def _whole_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number >= {low}, got {text!r}"
        ) from None
    if value < low:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {low}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """A whole number >= 1."""
    return _whole_at_least(text, 1)


def positive_ints(text: str) -> tuple[int, ...]:
    """One whole number >= 1, or several separated by commas (one per stage, in order)."""
    parts = [t.strip() for t in text.split(",")]
    if not all(parts):
        raise argparse.ArgumentTypeError(
            f"expected N or N,M,... (whole numbers >= 1), got {text!r}"
        )
    return tuple(_whole_at_least(t, 1) for t in parts)


def nonneg_int(text: str) -> int:
    """A whole number >= 0."""
    return _whole_at_least(text, 0)


def iso_date(text: str) -> dt.date:
    """A date written YYYY-MM-DD."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def iso_date_text(text: str) -> str:
    """A date written YYYY-MM-DD, kept as its ISO text."""
    return iso_date(text).isoformat()


def tcp_port(text: str) -> int:
    """A TCP port, 1-65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number 1-65535, got {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 1-65535, got {text!r}")
    return value


# --------------------------------------------------------------------------------------------
# where runs execute (infra.execution)


def add_executor_arguments(parser) -> None:
    """The options every parallel command shares (``experiment``, ``calibrate``)."""
    parser.add_argument(
        "--workers", type=int, default=1, help="local worker processes (default 1: this process)"
    )
    parser.add_argument(
        "--executor",
        choices=list(EXECUTOR_KINDS),
        default="local",
        help="where runs execute: a local process pool (default) or a Dask cluster",
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="tcp://HOST:PORT",
        help="with --executor dask: address of a running `dask scheduler`",
    )
    parser.add_argument(
        "--dask-workers",
        type=int,
        default=None,
        metavar="N",
        help="with --executor dask and no --scheduler: start a local Dask cluster of N "
        "single-threaded worker processes (default: --workers)",
    )
    parser.add_argument(
        "--scheduler-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="with --executor dask: seconds to wait for the scheduler and a first worker "
        "(default 10)",
    )


def executor_from_args(args) -> Executor:
    """Build the executor the command-line options ask for.

    A ``ValueError`` names a bad combination (``--scheduler`` without ``--executor dask``, ...).
    """
    kind = getattr(args, "executor", "local") or "local"
    workers = getattr(args, "workers", None)
    workers = 1 if workers is None else workers
    if not 1 <= workers <= 256:
        raise ValueError(f"workers: {workers} is outside the allowed range [1, 256]")
    options: dict[str, Any] = {}
    if getattr(args, "scheduler", None):
        options["scheduler"] = args.scheduler
    if getattr(args, "dask_workers", None) is not None:
        options["dask_workers"] = args.dask_workers
    if getattr(args, "scheduler_timeout", None) is not None:
        options["timeout"] = args.scheduler_timeout
    if kind != "dask" and options:
        flags = {"scheduler": "--scheduler", "dask_workers": "--dask-workers"}
        given = ", ".join(flags.get(name, "--scheduler-timeout") for name in options)
        raise ValueError(f"executor: {given} only apply with --executor dask")
    return make_executor(kind, workers, **options)
