"""Where independent runs execute: in this process, in a local process pool, or on a cluster.

One small interface serves the experiment runner and the calibration alike:

* ``map(fn, items)`` returns results in the order of ``items`` (what scipy's
  ``differential_evolution(workers=...)`` expects);
* ``as_completed(fn, items)`` yields ``(index, result)`` as each run finishes, so callers can save
  a run the moment it is done.

Results never depend on the executor: every run is keyed and seeded by its own arguments, never
by the worker it lands on or the order runs finish in.

Executors: :class:`SerialExecutor` (this process), :class:`LocalExecutor` (a pool of spawned local
processes) and :class:`infra.dask_cluster.DaskExecutor` (a Dask cluster, imported only when
asked for, so ``dask`` stays optional). Build one with :func:`make_executor` (the command line's
shared options build it through ``cli.options.executor_from_args``); all are context managers.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import as_completed as _futures_as_completed
from typing import Any, Protocol

#: The values of ``--executor``.
EXECUTOR_KINDS = ("local", "dask")


class Executor(Protocol):
    """What every executor offers."""

    workers: int

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]: ...

    def as_completed(
        self, fn: Callable[[Any], Any], items: Iterable[Any]
    ) -> Iterator[tuple[int, Any]]: ...

    def close(self) -> None: ...


class SerialExecutor:
    """Runs everything in this process, in order: the reference for every other executor."""

    workers = 1

    def map(self, fn, items):
        return [fn(item) for item in items]

    def as_completed(self, fn, items):
        for i, item in enumerate(items):
            yield i, fn(item)

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LocalExecutor(SerialExecutor):
    """A pool of local worker processes (spawned, so no state leaks from the parent)."""

    def __init__(self, workers: int):
        if workers < 1:
            raise ValueError(f"workers: {workers} is outside the allowed range [1, 256]")
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=mp.get_context("spawn"),
                initializer=_exit_with_parent,
                initargs=(os.getpid(),),
            )
        return self._pool

    def map(self, fn, items):
        return list(self._get_pool().map(fn, list(items)))

    def as_completed(self, fn, items):
        pool = self._get_pool()
        futures = {pool.submit(fn, item): i for i, item in enumerate(items)}
        for fut in _futures_as_completed(futures):
            yield futures[fut], fut.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


#: Seconds between a worker's checks that the process that started it is still there.
PARENT_CHECK_EVERY = 1.0


def _exit_with_parent(parent: int) -> None:
    """A pool worker's initializer: the worker ends when its parent does. Why: a worker waits on
    a queue whose write end it holds itself, so a parent killed outright (``kill -9``, a session's
    end) left its workers running for ever, still holding their memory (seen: ``spawn_main``
    processes after a killed calibration)."""

    def watch() -> None:
        while True:
            time.sleep(PARENT_CHECK_EVERY)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def make_executor(kind: str = "local", workers: int = 1, **options: Any) -> Executor:
    """Build an executor.

    ``kind="local"``: this process when ``workers == 1``, else a pool of ``workers`` processes.
    ``kind="dask"``: a :class:`infra.dask_cluster.DaskExecutor`; options ``scheduler``
    (``tcp://HOST:PORT`` of a running ``dask scheduler``) or ``dask_workers`` (start a local Dask
    cluster of that many single-threaded worker processes; default: ``workers``), and ``timeout``
    (seconds to reach the scheduler), ``retries``, ``progress``, ``desc``. Needs the optional
    extra ``cluster`` (``pip install ".[cluster]"``).
    """
    if kind == "local":
        unknown = sorted(set(options) - {"progress", "desc"})
        if unknown:
            raise ValueError(
                f"executor: option(s) {unknown} need the dask executor (--executor dask)"
            )
        return SerialExecutor() if workers == 1 else LocalExecutor(workers)
    if kind == "dask":
        try:
            from .dask_cluster import DaskExecutor
        except ImportError as exc:
            raise ValueError(
                f"executor: 'dask' needs dask[distributed] ({exc}); install it with "
                f'pip install ".[cluster]" (make test installs it)'
            ) from exc
        if not options.get("scheduler") and not options.get("dask_workers"):
            options["dask_workers"] = workers
        return DaskExecutor(**options)
    raise ValueError(f"executor: {kind!r} is not one of {list(EXECUTOR_KINDS)}")
