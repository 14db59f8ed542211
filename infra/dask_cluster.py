"""Runs on a Dask cluster: an existing one (``--scheduler tcp://HOST:PORT``) or a local one started
for the run (``--dask-workers N``).

Imported lazily by :func:`infra.execution.make_executor`, so ``dask[distributed]`` stays an
optional extra (``pip install ".[cluster]"``).

How the guarantees of :mod:`infra.execution` hold on a cluster:

* **Same results.** A task is ``fn(item)``, nothing else: the worker it lands on and the order
  tasks finish in never enter a run (runs are seeded by their own arguments). Results travel back
  pickled, so the coordinator receives exactly what the worker computed.
* **Deterministic keys.** A task's key is a hash of ``fn`` and its item, never a random id: a task
  that is retried is the same task, and an item submitted twice is one task.
* **Faults.** A task on a worker that dies is re-run on another worker by the scheduler (up to
  ``distributed.scheduler.allowed-failures`` deaths, 3 by default, then ``KilledWorker``); a task
  that raises is re-run up to ``retries`` times. Each item is yielded exactly once by
  :meth:`DaskExecutor.as_completed`, when its result has reached the coordinator.
* **The coordinator writes.** Results are gathered to the calling process; workers need the
  ``telesim`` code installed but never the output folder.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import CancelledError
from typing import Any

import cloudpickle
import dask
import distributed
from dask.base import tokenize
from tqdm import tqdm

#: Seconds to wait for the scheduler (and for its first worker) before giving up.
DEFAULT_TIMEOUT = 10.0
#: Times a task that raised is re-run before its error reaches the caller.
DEFAULT_RETRIES = 2
#: Seconds a cluster may have no worker at all, while tasks wait, before giving up.
DEFAULT_WORKER_GRACE = 120.0
#: Default port of ``dask scheduler``.
DEFAULT_PORT = 8786


class SchedulerUnreachableError(ConnectionError, ValueError):
    """The Dask scheduler could not be reached, or has no workers.

    A ``ValueError`` too, so the ``telesim`` command reports it as one line (exit status 2).
    """


class NoWorkersError(SchedulerUnreachableError):
    """Every worker left the cluster while tasks were waiting."""


def normalize_address(address: str) -> str:
    """``tcp://HOST:PORT`` from what a user typed; ``HOST:PORT`` gets ``tcp://``.

    Raises ``ValueError`` naming the address when it has no host or port.
    """
    text = str(address).strip()
    if "://" not in text:
        text = "tcp://" + text
    scheme, _, rest = text.partition("://")
    host, sep, port = rest.rpartition(":")
    if scheme not in {"tcp", "tls", "ucx", "ws", "wss"}:
        raise ValueError(
            f"scheduler: {address!r} has an unknown protocol {scheme!r}; "
            f"use the form tcp://HOST:PORT (e.g. tcp://10.0.0.5:{DEFAULT_PORT})"
        )
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(
            f"scheduler: {address!r} is not of the form tcp://HOST:PORT "
            f"(e.g. tcp://10.0.0.5:{DEFAULT_PORT}; `dask scheduler` listens on port "
            f"{DEFAULT_PORT} by default)"
        )
    return f"{scheme}://{host}:{port}"


def _unreachable_message(address: str, timeout: float, reason: str) -> str:
    return (
        f"could not reach the Dask scheduler at {address} within {timeout:g} s ({reason}). "
        f"Check that `dask scheduler` is running on that host and port "
        f"(it prints 'Scheduler at: tcp://...'), that no firewall blocks the port from this "
        f"machine, and that the address has the form tcp://HOST:PORT "
        f"(default port {DEFAULT_PORT}); or use --dask-workers N for a local cluster"
    )


def task_key(fn: Callable[[Any], Any], item: Any, fn_token: str | None = None) -> str:
    """The task key of ``fn(item)``: ``<name>-<hash of fn and item>``, the same in every run."""
    name = getattr(fn, "__name__", None) or type(fn).__name__
    if fn_token is None:
        fn_token = _token(fn)
    return f"{name}-{_token(fn_token, item)}"


def _token(*objects: Any) -> str:
    """A deterministic hash of ``objects`` (dask's tokenize, else a hash of their pickle)."""
    try:
        with dask.config.set({"tokenize.ensure-deterministic": True}):
            return tokenize(*objects)
    except Exception:
        return hashlib.sha256(cloudpickle.dumps(objects, protocol=5)).hexdigest()[:32]


#: Packages whose versions must match between coordinator and workers for identical results.
CHECKED_PACKAGES = ("numpy", "pandas", "scipy", "mesa")


def code_fingerprint() -> dict[str, str | None]:
    """What a run's result depends on besides its arguments, as seen by this process.

    A hash of the model's code and data files (``model/``) and of the committed calibration
    (``calibration/calibrated.json``, the default parameter set), the ``$TELESIM_UNCERTAINTIES``
    override, and the versions of :data:`CHECKED_PACKAGES`. Computed from files, without importing
    the model.
    """
    import importlib.metadata
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("model")
    digest = hashlib.sha256()
    if spec is not None and spec.origin:
        root = Path(spec.origin).resolve().parent
        files = [f for f in root.rglob("*") if f.is_file() and "__pycache__" not in f.parts]
        calibrated = root.parent / "calibration" / "calibrated.json"
        if calibrated.is_file():
            files.append(calibrated)
        for f in sorted(files, key=lambda f: f.relative_to(root.parent).as_posix()):
            digest.update(f.relative_to(root.parent).as_posix().encode() + b"\0")
            digest.update(f.read_bytes() + b"\0")
    out: dict[str, str | None] = {
        "model code and data": digest.hexdigest()[:16] if spec is not None else None,
        "TELESIM_UNCERTAINTIES": os.environ.get("TELESIM_UNCERTAINTIES"),
    }
    for name in CHECKED_PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def _local_cluster(n: int):
    """A ``distributed.LocalCluster`` of ``n`` single-threaded worker processes.

    Workers start like a plain Python process: without the ``MALLOC_TRIM_THRESHOLD_`` that Dask's
    nanny sets by default, which disables glibc's adaptive mmap threshold and makes the model's
    large, short-lived numpy arrays page-fault on every allocation (single runs 1.2-1.7x slower
    measured here). Their statistical profiler (a thread sampling the running task every 10 ms for
    a dashboard nobody looks at here) is off. The environment variables the nanny sets in this
    process are put back.
    """
    saved = dict(os.environ)
    settings = {
        "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
        "distributed.worker.profile.enabled": False,  # a sampling thread for a dashboard
    }
    try:
        with dask.config.set(settings):
            return distributed.LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                # the scheduler's HTTP endpoint on a free loopback port (never a clash on 8787)
                dashboard_address="127.0.0.1:0",
                silence_logs=logging.ERROR,
            )
    finally:
        for key in set(os.environ) - set(saved):
            del os.environ[key]
        os.environ.update(saved)


class DaskExecutor:
    """Runs ``fn(item)`` tasks on a Dask cluster; results come back to this process.

    ``scheduler``: address of a running ``dask scheduler`` (``tcp://HOST:PORT``);
    ``dask_workers``: otherwise, start a ``distributed.LocalCluster`` of that many worker processes
    with one thread each (default 1) for the life of the executor.
    ``timeout``: seconds to wait for the scheduler and for at least one worker.
    ``retries``: re-runs of a task that raised. ``progress``: a tqdm bar of the runs returned
    by :meth:`as_completed`, one for the executor's life (``None``: only when stderr is a
    terminal). ``check_code``: refuse workers whose model code,
    data, calibration or numerical packages differ from this process's (:func:`code_fingerprint`),
    since their runs would not be identical. ``worker_grace``: seconds the cluster may have no
    worker at all while tasks wait before :class:`NoWorkersError` (rather than waiting forever).
    """

    def __init__(
        self,
        scheduler: str | None = None,
        dask_workers: int | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        progress: bool | None = None,
        desc: str = "runs",
        check_code: bool = True,
        worker_grace: float = DEFAULT_WORKER_GRACE,
    ):
        if scheduler and dask_workers:
            raise ValueError(
                "scheduler/dask-workers: give either --scheduler (an existing cluster) or "
                "--dask-workers N (a local cluster started for the run), not both"
            )
        if not timeout > 0:
            raise ValueError(f"scheduler timeout: {timeout!r} is not a positive number of seconds")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries: {retries!r} is not a whole number >= 0")
        self.timeout = float(timeout)
        self.retries = retries
        self.progress = progress
        self.desc = desc
        self.worker_grace = float(worker_grace)
        self._bar = None
        self._cluster = None
        if scheduler:
            self.address = normalize_address(scheduler)
            self._client = self._connect(self.address)
        else:
            n = 1 if dask_workers is None else dask_workers
            if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 256:
                raise ValueError(f"dask-workers: {n!r} is outside the allowed range [1, 256]")
            self._cluster = _local_cluster(n)
            self.address = self._cluster.scheduler_address
            self._client = distributed.Client(
                self._cluster, timeout=self.timeout, set_as_default=False
            )
        try:
            self._client.wait_for_workers(1, timeout=self.timeout)
        except (TimeoutError, OSError) as exc:
            self.close()
            raise SchedulerUnreachableError(
                f"the Dask scheduler at {self.address} has no workers after {self.timeout:g} s; "
                f"start some with `dask worker {self.address} --nthreads 1` "
                f"(on each machine of the cluster)"
            ) from exc
        if check_code:
            try:
                self.check_workers()
            except BaseException:
                self.close()
                raise

    def _connect(self, address: str):
        try:
            return distributed.Client(address, timeout=self.timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise SchedulerUnreachableError(
                _unreachable_message(address, self.timeout, f"{type(exc).__name__}: {exc}")
            ) from exc

    def check_workers(self) -> None:
        """Raise ``ValueError`` if a worker would not compute what this process computes."""
        here = code_fingerprint()
        try:
            there = self._client.run(code_fingerprint)
        except Exception as exc:
            raise ValueError(
                f"could not check the Dask workers at {self.address} "
                f"({type(exc).__name__}: {exc}); is telesim installed on every worker "
                f'(pip install -e ".[cluster]" in a clone of the same commit)?'
            ) from exc
        problems = []
        for address, theirs in sorted(there.items()):
            diff = [
                f"{k} {theirs.get(k)!r} (here {v!r})" for k, v in here.items() if theirs.get(k) != v
            ]
            if diff:
                problems.append(f"{address}: " + ", ".join(diff))
        if problems:
            raise ValueError(
                f"Dask workers at {self.address} run different code or packages than this "
                f"machine, so their runs would not match local ones: {'; '.join(problems)}. "
                f"Install the same telesim commit and package versions on every worker "
                f"(and the same calibration/calibrated.json), then restart them"
            )

    @property
    def client(self) -> distributed.Client:
        """The ``distributed.Client`` (for callers who need more than map/as_completed)."""
        return self._client

    @property
    def workers(self) -> int:
        """Threads across the cluster's workers now (one run each at a time)."""
        return max(1, sum(self._client.nthreads().values()))

    def _submit(self, fn, items: list[Any]) -> tuple[list[Any], dict[str, list[int]]]:
        """One future per distinct task key, and the item indices each key stands for."""
        fn_token = _token(fn)
        keys = [task_key(fn, item, fn_token) for item in items]
        indices: dict[str, list[int]] = defaultdict(list)
        unique_items, unique_keys = [], []
        for i, (key, item) in enumerate(zip(keys, items, strict=True)):
            if key not in indices:
                unique_items.append(item)
                unique_keys.append(key)
            indices[key].append(i)
        futures = (
            self._client.map(fn, unique_items, key=unique_keys, retries=self.retries)
            if unique_items
            else []
        )
        return futures, indices

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        """``[fn(item) for item in items]``, computed on the cluster, in the order of ``items``."""
        items = list(items)
        futures, indices = self._submit(fn, items)
        out: list[Any] = [None] * len(items)
        try:
            for future in self._completed(futures):
                result = self._result(future)
                for i in indices[future.key]:
                    out[i] = result
        finally:
            self._release(futures)
        return out

    def as_completed(
        self, fn: Callable[[Any], Any], items: Iterable[Any]
    ) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, fn(items[index]))`` as each task's result reaches this process.

        Every index is yielded exactly once, whatever workers die or tasks are retried meanwhile.
        Stopping early (break, an exception in the caller) drops the tasks not yet finished.
        """
        items = list(items)
        futures, indices = self._submit(fn, items)
        pending = set(futures)
        bar = self._progress_bar(len(items))
        try:
            for future in self._completed(futures):
                result = self._result(future)
                pending.discard(future)
                future.release()
                for i in indices[future.key]:
                    if bar is not None:
                        bar.update(1)
                    yield i, result
        finally:
            if pending:
                self._release(list(pending))

    def _result(self, future):
        """The task's result (or its error), with a clear error if the scheduler went away."""
        try:
            return future.result()
        except CancelledError as exc:
            if "connection-lost" in str(exc) or self._client.status != "running":
                raise self._lost(exc) from exc
            raise

    def _lost(self, exc: BaseException) -> SchedulerUnreachableError:
        return SchedulerUnreachableError(
            f"lost the connection to the Dask scheduler at {self.address} "
            f"({type(exc).__name__}: {str(exc).splitlines()[0]}); check that `dask scheduler` is "
            f"still running there. Runs already written stay on disk: re-running the command "
            f"resumes an experiment"
        )

    def _progress_bar(self, more: int):
        """The executor's one bar: its total grows with every ``as_completed`` call, so callers
        that submit in batches see one steady bar (with the cluster's worker count)."""
        if self._bar is None:
            self._bar = tqdm(
                total=0,
                desc=f"{self.desc} (dask)",
                unit="run",
                disable=(None if self.progress is None else not self.progress),
                dynamic_ncols=True,
            )
            if self._bar.disable:
                return None
        if self._bar.disable:
            return None
        self._bar.total += more
        self._bar.refresh()
        return self._bar

    def _completed(self, futures: list[Any]) -> Iterator[Any]:
        """Yield each future once it has finished; raise :class:`NoWorkersError` if the cluster
        has had no worker for ``worker_grace`` seconds while tasks wait (instead of hanging)."""
        done = distributed.as_completed(futures, loop=self._client.loop)
        condition = getattr(done, "thread_condition", None)
        idle_since: float | None = None
        next_check = time.monotonic() + 1.0
        while not done.is_empty():
            if done.has_ready():
                idle_since = None
                yield from done.next_batch(block=False)
                continue
            if condition is not None:
                with condition:
                    condition.wait(timeout=0.1)
            else:  # pragma: no cover - other versions of distributed
                time.sleep(0.05)
            now = time.monotonic()
            if now < next_check:
                continue
            next_check = now + 1.0
            try:
                workers = len(self._client.nthreads())
            except OSError as exc:  # CommClosedError is one
                raise self._lost(exc) from exc
            if self._bar is not None and not self._bar.disable:
                self._bar.set_postfix(workers=workers)
            if workers:
                idle_since = None
            elif idle_since is None:
                idle_since = now
            elif now - idle_since >= self.worker_grace:
                raise NoWorkersError(
                    f"the Dask cluster at {self.address} has had no workers for "
                    f"{now - idle_since:.0f} s while {done.count()} task(s) wait; start "
                    f"workers with `dask worker {self.address} --nthreads 1` (tasks finished so "
                    f"far were delivered; re-running the command resumes an experiment)"
                )

    def _release(self, futures: list[Any]) -> None:
        """Tell the scheduler these results are no longer wanted: unfinished tasks are dropped.

        Releasing, not ``client.cancel``: a cancellation is reported back to the client
        asynchronously and would also cancel a new future for the same key submitted meanwhile
        (keys are deterministic, so the same item may well come again at once).
        """
        for future in futures:
            try:
                future.release()
            except Exception:  # the client may already be closing
                pass

    def close(self) -> None:
        if getattr(self, "_bar", None) is not None:
            self._bar.close()
            self._bar = None
        client, cluster = getattr(self, "_client", None), self._cluster
        self._client, self._cluster = None, None
        if client is not None:
            try:
                client.close(timeout=self.timeout)
            except Exception:
                pass
        if cluster is not None:
            try:
                cluster.close(timeout=self.timeout)
            except Exception:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        where = "local cluster" if self._cluster is not None else "cluster"
        return f"DaskExecutor({where} at {getattr(self, 'address', '?')})"
