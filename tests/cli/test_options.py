"""The command line's shared options: argument types, and choosing an executor from the executor
options, with errors that name the option."""

from __future__ import annotations

import argparse
import math
import time

import pytest

from cli.options import add_executor_arguments, executor_from_args
from infra.execution import LocalExecutor


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_executor_arguments(parser)
    return parser.parse_args(list(argv))


def test_local_workers():
    with executor_from_args(_args("--workers", "2")) as ex:
        assert isinstance(ex, LocalExecutor) and ex.workers == 2
        assert ex.map(math.sqrt, [1, 4, 9, 16, 25]) == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_bad_choices_name_the_option():
    with pytest.raises(ValueError, match="--scheduler only apply with --executor dask"):
        executor_from_args(_args("--scheduler", "tcp://127.0.0.1:8786"))
    with pytest.raises(ValueError, match="--dask-workers only apply with --executor dask"):
        executor_from_args(_args("--dask-workers", "2"))
    with pytest.raises(ValueError, match="workers: 0 is outside"):
        executor_from_args(_args("--workers", "0"))
    with pytest.raises(SystemExit):  # argparse: not a choice
        _args("--executor", "spark")


def test_cli_options_reach_the_dask_executor():
    args = _args("--executor", "dask", "--scheduler", "127.0.0.1:1", "--scheduler-timeout", "0.5")
    assert (args.executor, args.scheduler, args.scheduler_timeout) == ("dask", "127.0.0.1:1", 0.5)
    pytest.importorskip("distributed")
    from infra.dask_cluster import SchedulerUnreachableError

    t0 = time.monotonic()
    with pytest.raises(SchedulerUnreachableError, match=r"tcp://127\.0\.0\.1:1 within 0\.5 s"):
        executor_from_args(args)
    assert time.monotonic() - t0 < 6
    with pytest.raises(ValueError, match="not both"):
        executor_from_args(
            _args("--executor", "dask", "--scheduler", "tcp://h:1", "--dask-workers", "2")
        )
