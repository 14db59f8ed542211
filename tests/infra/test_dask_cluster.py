"""The Dask executor on a real cluster: a ``dask scheduler`` and two ``dask worker`` processes
started on 127.0.0.1 by the test, running real model runs.

* the same runs give bit-identical tables through the serial executor, a local process pool and
  Dask (``map`` in item order, ``as_completed`` once per item);
* a worker killed (SIGKILL, nanny and worker process together) while it runs a task: every item
  still completes exactly once, with the same tables;
* an unreachable scheduler, or one without workers, fails fast with a message naming the address,
  the timeout and what to check;
* scipy's ``differential_evolution(workers=executor.map)`` finds the same optimum over Dask as in
  this process.

Task functions live at module level: the workers import this module (its folder is put on their
``PYTHONPATH``), as they would import the installed project on a real cluster.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")

from infra.dask_cluster import (  # noqa: E402
    DaskExecutor,
    NoWorkersError,
    SchedulerUnreachableError,
    task_key,
)
from infra.execution import LocalExecutor, SerialExecutor, make_executor  # noqa: E402

BIN = Path(sys.executable).parent
#: The folder from which this module imports under its ``__name__`` (for the workers).
IMPORT_ROOT = Path(__file__).resolve().parents[len(__name__.split(".")) - 1]

#: A coarse, short run: about a second each.
SCALE = 2000
END = "2019-03-31"
SEEDS = [1, 2, 3, 4]


# --- tasks (run on the workers) -----------------------------------------------------------------


def run_seed(seed: int):
    """One real model run, seeded by its argument only."""
    from model import simulate

    return simulate(seed=seed, scale=SCALE, end=END)


def run_item(item: dict):
    """A run described by a dict (seed and levers), as an experiment would describe it."""
    from model import simulate

    return simulate(seed=item["seed"], levers=item.get("levers"), scale=SCALE, end=END)


def slow_run(seed: int):
    """A run that lasts long enough to be caught by a killed worker; returns who ran it."""
    time.sleep(2.0)
    name = distributed.get_worker().name
    return name, run_seed(seed)


def sphere(x) -> float:
    """A smooth objective with its minimum at (0.3, -0.2)."""
    return float((x[0] - 0.3) ** 2 + (x[1] + 0.2) ** 2)


# --- a real cluster on loopback -------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoopbackCluster:
    """``dask scheduler`` and ``dask worker`` processes on 127.0.0.1, each in its own process group
    (so a worker is killed with its nanny, as when a machine is lost)."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        tmp.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen] = {}
        self.env = dict(os.environ)
        self.env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(IMPORT_ROOT), self.env.get("PYTHONPATH", "")) if p
        )
        self.env["DASK_DISTRIBUTED__LOGGING__DISTRIBUTED"] = "error"
        self.address: str | None = None

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "wb")  # closed once the child has it
        proc = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.tmp,
            start_new_session=True,
        )
        log.close()
        self.procs[name] = proc
        return proc

    def start_scheduler(self, timeout: float = 30) -> str:
        info = self.tmp / "scheduler.json"
        port = _free_port()
        proc = self._spawn(
            "scheduler",
            [
                str(BIN / "dask"),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-dashboard",
                "--scheduler-file",
                str(info),
            ],
        )
        deadline = time.monotonic() + timeout
        while not info.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dask scheduler did not start:\n{self.log('scheduler')}")
            time.sleep(0.1)
        time.sleep(0.1)  # the file is written once; let it be flushed
        self.address = json.loads(info.read_text())["address"]
        return self.address

    def start_worker(self, name: str) -> subprocess.Popen:
        return self._spawn(
            name,
            [
                str(BIN / "dask"),
                "worker",
                self.address,
                "--host",
                "127.0.0.1",
                "--nthreads",
                "1",
                "--nworkers",
                "1",
                "--name",
                name,
                "--no-dashboard",
                "--death-timeout",
                "60",
            ],
        )

    def kill(self, name: str) -> None:
        """SIGKILL a process and everything in its group (a worker with its nanny)."""
        proc = self.procs[name]
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)

    def log(self, name: str) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def close(self) -> None:
        """Stop every process started here (workers first), then make sure none is left."""
        for name in sorted(self.procs, key=lambda n: n == "scheduler"):
            proc = self.procs[name]
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 10
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for proc in self.procs.values():
            try:  # the group too: a nanny's worker process outlives a nanny killed alone
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            if proc.poll() is None:
                proc.wait(timeout=10)


def _start(tmp: Path, workers: list[str]) -> LoopbackCluster:
    cluster = LoopbackCluster(tmp)
    try:
        cluster.start_scheduler()
        for name in workers:
            cluster.start_worker(name)
        with distributed.Client(cluster.address, timeout=30) as client:
            client.wait_for_workers(len(workers), timeout=60)
    except BaseException:
        cluster.close()
        raise
    return cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = _start(tmp_path_factory.mktemp("dask-cluster"), ["w0", "w1"])
    yield c
    c.close()
    assert all(p.poll() is not None for p in c.procs.values())


@pytest.fixture(scope="module")
def reference():
    """The runs of SEEDS in this process: the reference for every other executor."""
    with SerialExecutor() as ex:
        return ex.map(run_seed, SEEDS)


# --- tests ----------------------------------------------------------------------------------------


def test_dask_runs_are_bit_identical_to_serial_and_local_pool(cluster, reference):
    with LocalExecutor(2) as pool:
        local = pool.map(run_seed, SEEDS)
    with make_executor("dask", scheduler=cluster.address, timeout=10) as ex:
        assert ex.workers == 2
        dask_map = ex.map(run_seed, SEEDS)
        completed = list(ex.as_completed(run_seed, SEEDS))
    assert len(reference) == len(SEEDS)
    assert len(reference[0]) > 20 and reference[-1]["acts"].sum() > 0
    for ref, loc, dsk in zip(reference, local, dask_map, strict=True):
        assert ref.equals(loc)
        assert ref.equals(dsk)
    assert sorted(i for i, _ in completed) == list(range(len(SEEDS)))
    for i, frame in completed:
        assert frame.equals(reference[i])
    # different seeds do differ, so equality above is not vacuous
    assert not reference[0].equals(reference[1])


def test_dask_map_keeps_item_order_with_duplicates_and_dict_items(cluster, reference):
    items = [
        {"seed": 3},
        {"seed": 1},
        {"seed": 3},
        {"seed": 1, "levers": {"known_patient_rule_until": "2018-09-15"}},
    ]
    with DaskExecutor(scheduler=cluster.address, timeout=10) as ex:
        out = ex.map(run_item, items)
        completed = list(ex.as_completed(run_item, items))
    assert out[0].equals(reference[2]) and out[2].equals(reference[2])
    assert out[1].equals(reference[0])
    assert out[3].equals(run_item(items[3]))
    assert not out[3].equals(out[1])  # the lever changes the run
    assert sorted(i for i, _ in completed) == [0, 1, 2, 3]
    for i, frame in completed:
        assert frame.equals(out[i])


def test_differential_evolution_over_dask_matches_serial(cluster):
    from scipy.optimize import differential_evolution

    settings = dict(
        bounds=[(-1, 1), (-1, 1)], seed=7, maxiter=5, popsize=5, polish=False, updating="deferred"
    )
    serial = differential_evolution(sphere, workers=SerialExecutor().map, **settings)
    with DaskExecutor(scheduler=cluster.address, timeout=10) as ex:
        over_dask = differential_evolution(sphere, workers=ex.map, **settings)
    assert over_dask.x.tolist() == serial.x.tolist()
    assert over_dask.fun == serial.fun
    assert over_dask.nfev == serial.nfev


def slow_task(index: int):
    """Item ``index`` is seed ``SEEDS[index % 4]``: distinct items, so distinct tasks."""
    return slow_run(SEEDS[index % len(SEEDS)])


def test_killed_worker_loses_and_duplicates_nothing(tmp_path, reference):
    """SIGKILL a worker (with its nanny) in the middle of a task, after the first results."""
    c = _start(tmp_path, ["w0", "w1"])
    try:
        items = list(range(6))
        key_of = {task_key(slow_task, i): i for i in items}
        seen: list[int] = []
        ran_by: dict[int, str] = {}
        killed, lost = None, []
        with DaskExecutor(scheduler=c.address, timeout=10, retries=2) as ex:
            for i, (name, frame) in ex.as_completed(slow_task, items):
                seen.append(i)
                ran_by[i] = name
                assert frame.equals(reference[i % len(SEEDS)])
                if killed is None:
                    # both workers are now sleeping inside their next task: kill one of them
                    time.sleep(0.5)
                    workers = ex.client.scheduler_info(n_workers=-1)["workers"]
                    names = {addr: info["name"] for addr, info in workers.items()}
                    processing = ex.client.processing()
                    addr = sorted(a for a in processing if processing[a])[0]
                    killed = names[addr]
                    lost = [key_of[k] for k in processing[addr]]
                    c.kill(killed)
            left = {info["name"] for info in ex.client.scheduler_info()["workers"].values()}
        assert killed in {"w0", "w1"} and killed not in left
        assert lost, "the killed worker held no task"
        assert sorted(seen) == items  # every item, exactly once
        # what the killed worker held was re-run on the survivor
        assert all(ran_by[i] != killed for i in lost)
    finally:
        c.close()
    assert all(p.poll() is not None for p in c.procs.values())


def test_unreachable_scheduler_fails_fast_with_a_clear_message():
    port = _free_port()  # nothing listens there
    address = f"tcp://127.0.0.1:{port}"
    t0 = time.monotonic()
    with pytest.raises(SchedulerUnreachableError) as err:
        make_executor("dask", scheduler=address, timeout=1.5)
    elapsed = time.monotonic() - t0
    assert elapsed < 8
    message = str(err.value)
    assert address in message
    assert "1.5 s" in message
    assert "dask scheduler" in message
    assert "firewall" in message
    assert "tcp://HOST:PORT" in message
    assert isinstance(err.value, ValueError)  # the CLI prints it as one line, exit status 2


def test_no_workers_lost_workers_and_lost_scheduler_fail_fast(tmp_path):
    c = LoopbackCluster(tmp_path)
    try:
        address = c.start_scheduler()
        t0 = time.monotonic()
        with pytest.raises(SchedulerUnreachableError, match="has no workers") as err:
            DaskExecutor(scheduler=address, timeout=1)
        assert time.monotonic() - t0 < 8
        assert f"dask worker {address}" in str(err.value)

        # the only worker dies while tasks wait: a clear error after the grace, not a hang
        c.start_worker("only")
        with DaskExecutor(scheduler=address, timeout=30, worker_grace=2) as ex:
            done = []
            with pytest.raises(NoWorkersError, match="has had no workers for") as err:
                for i, _ in ex.as_completed(time.sleep, [0.0, 5.0, 5.0, 5.0]):
                    done.append(i)
                    c.kill("only")
            assert done == [0]
            assert f"dask worker {address}" in str(err.value)

        # the scheduler dies mid-run: a clear error at once
        c.start_worker("again")
        with DaskExecutor(scheduler=address, timeout=30) as ex:
            done = []
            with pytest.raises(SchedulerUnreachableError, match="lost the connection") as err:
                for i, _ in ex.as_completed(time.sleep, [0.0, 5.0, 5.1]):
                    done.append(i)
                    c.kill("scheduler")
            assert done == [0]
            assert address in str(err.value)
    finally:
        c.close()


# --- the experiment runner over Dask ------------------------------------------------------


EXPERIMENT_SCENARIOS = ("baseline", "no_known_patient_rule")
EXPERIMENT_REPLICATES = 3


def _experiment(out: Path, executor, on_saved=None):
    from experiments import runner
    from experiments.scenarios import load_scenario

    return runner.run_experiment(
        [load_scenario(name) for name in EXPERIMENT_SCENARIOS],
        replicates=EXPERIMENT_REPLICATES,
        out=out,
        executor=executor,
        end=END,
        scale=SCALE,
        params="best",
        progress=False,
        on_saved=on_saved,
    )


def _run_folders(out: Path) -> list[Path]:
    return sorted(p.parent for p in (out / "runs").rglob("metadata.json"))


def _tables(out: Path) -> dict[str, object]:
    import pandas as pd

    return {
        p.relative_to(out).as_posix(): pd.read_parquet(p)
        for p in sorted((out / "runs").rglob("*.parquet"))
    }


@pytest.fixture(scope="module")
def local_experiment(tmp_path_factory):
    """The experiment run in this process: the reference on disk."""
    pytest.importorskip("experiments.runner")
    out = tmp_path_factory.mktemp("experiment") / "local"
    with SerialExecutor() as ex:
        _, stats = _experiment(out, ex)
    assert stats.computed == stats.total == len(EXPERIMENT_SCENARIOS) * EXPERIMENT_REPLICATES
    return out


def _assert_same_runs_on_disk(out: Path, reference: Path) -> None:
    expected = len(EXPERIMENT_SCENARIOS) * EXPERIMENT_REPLICATES
    folders = _run_folders(out)
    assert len(folders) == expected  # every run, once
    assert [f.relative_to(out) for f in folders] == [
        f.relative_to(reference) for f in _run_folders(reference)
    ]
    mine, theirs = _tables(out), _tables(reference)
    assert mine.keys() == theirs.keys() and len(mine) >= 4 * expected
    for name, frame in theirs.items():
        assert mine[name].equals(frame), name
    # nothing else was left behind (no half-written temporary folders)
    leftovers = [
        p for p in (out / "runs").rglob("*") if p.is_dir() and p.name.startswith((".", "tmp"))
    ]
    assert not leftovers


def test_experiment_over_dask_writes_the_same_run_tables(cluster, local_experiment, tmp_path):
    out = tmp_path / "dask"
    with DaskExecutor(scheduler=cluster.address, timeout=10) as ex:
        _, stats = _experiment(out, ex)
    assert stats.computed == stats.total and stats.skipped == 0
    _assert_same_runs_on_disk(out, local_experiment)
    # resuming: a second call finds everything on disk and computes nothing
    with DaskExecutor(scheduler=cluster.address, timeout=10) as ex:
        _, again = _experiment(out, ex)
    assert again.computed == 0 and again.skipped == stats.total


def test_experiment_survives_a_killed_worker(local_experiment, tmp_path):
    c = _start(tmp_path / "cluster", ["w0", "w1"])
    try:
        killed: list[str] = []
        with DaskExecutor(scheduler=c.address, timeout=10) as ex:

            def kill_a_busy_worker(spec, path):
                if killed:
                    return
                workers = ex.client.scheduler_info(n_workers=-1)["workers"]
                processing = ex.client.processing()
                busy = sorted(a for a in processing if processing[a])
                if busy:
                    killed.append(workers[busy[0]]["name"])
                    c.kill(killed[0])

            _, stats = _experiment(tmp_path / "dask", ex, on_saved=kill_a_busy_worker)
            left = {w["name"] for w in ex.client.scheduler_info()["workers"].values()}
        assert killed and killed[0] not in left
        assert stats.computed == stats.total
        assert len(set(stats.computed_keys)) == len(stats.computed_keys) == stats.total
        _assert_same_runs_on_disk(tmp_path / "dask", local_experiment)
    finally:
        c.close()


# --- the calibration's search over Dask -----------------------------------------------------


def test_tiny_calibration_over_dask_finds_the_same_best_parameters(cluster):
    pytest.importorskip("calibration.search")
    import numpy as np

    from calibration.objective import Objective, SearchSpace, training_seeds
    from calibration.search import SearchSettings, differential_evolution
    from calibration.targets import load_targets, training_targets
    from model import Uncertainties

    targets = training_targets(load_targets(), "2019-03-17")
    space = SearchSpace.from_specs(["external_rate_urban", "choice_level"])
    base = {k: v for k, v in Uncertainties().to_dict().items() if k not in space.names}
    objective = Objective(space, tuple(targets), tuple(training_seeds(1)), SCALE, base)
    settings = SearchSettings(budget=10, popsize=2, seed=3, refine=0)  # 2 generations of 5

    def search(map_fn):
        return differential_evolution(
            objective, space.bounds, settings, map_fn=map_fn, progress=False
        )

    local = search(SerialExecutor().map)
    with DaskExecutor(scheduler=cluster.address, timeout=10) as ex:
        over_dask = search(ex.map)
    assert 4 <= local.nfev <= 12 and local.generations >= 1
    assert np.array_equal(over_dask.x, local.x)
    assert over_dask.fun == local.fun
    assert space.values(over_dask.x) == space.values(local.x)
    assert np.array_equal(over_dask.evaluated_x, local.evaluated_x)
    assert np.array_equal(over_dask.evaluated_f, local.evaluated_f)
