"""The execution layer: the local executors, deterministic task keys, and the Dask executor on a
local cluster it starts itself (ordered map, each item once, early stop, task errors, nothing left
running). Choosing an executor from the command line is tested in ``tests/cli/test_options.py``."""

from __future__ import annotations

import math
import subprocess
import sys
import time

import pytest

from infra.execution import LocalExecutor, SerialExecutor, make_executor


def test_local_kinds():
    with make_executor() as ex:
        assert isinstance(ex, SerialExecutor) and ex.workers == 1
        assert ex.map(math.sqrt, [4, 9]) == [2.0, 3.0]
        assert sorted(ex.as_completed(math.sqrt, [16, 1])) == [(0, 4.0), (1, 1.0)]
    with make_executor("local", 2) as ex:
        assert isinstance(ex, LocalExecutor) and ex.workers == 2
        assert ex.map(math.sqrt, [1, 4, 9, 16, 25]) == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_bad_kind_names_the_choices():
    with pytest.raises(ValueError, match="'spark' is not one of"):
        make_executor("spark")


def test_scheduler_addresses():
    pytest.importorskip("distributed")
    from infra.dask_cluster import normalize_address

    assert normalize_address("tcp://10.0.0.5:8786") == "tcp://10.0.0.5:8786"
    assert normalize_address(" 10.0.0.5:8786 ") == "tcp://10.0.0.5:8786"
    assert normalize_address("tls://node-1.example:9000") == "tls://node-1.example:9000"
    for bad in ("10.0.0.5", "tcp://10.0.0.5", "tcp://:8786", "tcp://h:99999", "http://h:8786"):
        with pytest.raises(ValueError, match="tcp://HOST:PORT"):
            normalize_address(bad)


KEY_SNIPPET = (
    "import math, numpy as np; from infra.dask_cluster import task_key; "
    "print(task_key(math.sqrt, {'seed': 3, 'levers': {'coverage_rate': 1.0}}), "
    "task_key(math.sqrt, np.array([0.25, 0.5])))"
)


def test_task_keys_depend_on_the_item_only():
    pytest.importorskip("distributed")
    import numpy as np

    from infra.dask_cluster import task_key

    item = {"seed": 3, "levers": {"coverage_rate": 1.0}}
    key = task_key(math.sqrt, item)
    assert key.startswith("sqrt-")
    assert key == task_key(math.sqrt, dict(item))
    assert key != task_key(math.sqrt, {"seed": 4, "levers": {"coverage_rate": 1.0}})
    assert key != task_key(math.exp, item)
    vec = task_key(math.sqrt, np.array([0.25, 0.5]))
    # the same in another process: a task is named by what it computes, not by who submits it
    out = subprocess.run(
        [sys.executable, "-c", KEY_SNIPPET], capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == [key, vec]


@pytest.fixture(scope="module")
def local_dask():
    pytest.importorskip("distributed")
    import psutil

    before = {p.pid for p in psutil.Process().children(recursive=True)}
    ex = make_executor("dask", dask_workers=2)
    yield ex
    ex.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = {p.pid for p in psutil.Process().children(recursive=True)} - before
        if not left:
            break
        time.sleep(0.2)
    assert not left, f"processes left running after close: {left}"


def test_local_dask_cluster_map_and_as_completed(local_dask):
    ex = local_dask
    assert ex.workers == 2
    items = [9.0, 4.0, 9.0, 1.0, 0.0, 2.0]
    assert ex.map(math.sqrt, items) == [math.sqrt(v) for v in items]
    assert ex.map(math.sqrt, []) == []
    done = list(ex.as_completed(math.sqrt, items))
    assert sorted(i for i, _ in done) == list(range(len(items)))
    assert all(r == math.sqrt(items[i]) for i, r in done)


def test_local_dask_task_error_reaches_the_caller(local_dask):
    # repeated at once: the same failing item, the same task key, the same error every time
    # (a key given up on must not leave a later submission of that key cancelled)
    for _ in range(3):
        with pytest.raises(ValueError, match="math domain error"):
            local_dask.map(math.sqrt, [4.0, -1.0])
        with pytest.raises(ValueError, match="math domain error"):
            list(local_dask.as_completed(math.sqrt, [-1.0]))
        assert local_dask.map(math.sqrt, [4.0]) == [2.0]  # still usable


def _scheduler_tasks(dask_scheduler=None) -> int:
    return len(dask_scheduler.tasks)


def test_local_dask_early_stop_cancels_the_rest(local_dask):
    ex = local_dask
    for _i, _ in ex.as_completed(time.sleep, [0.0, 1.0, 1.1, 1.2, 1.3, 1.4]):
        break
    deadline = time.monotonic() + 5
    while ex.client.run_on_scheduler(_scheduler_tasks) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ex.client.run_on_scheduler(_scheduler_tasks) == 0


def test_workers_with_other_code_or_settings_are_refused(local_dask, monkeypatch):
    local_dask.check_workers()  # same checkout: accepted
    monkeypatch.setenv("TELESIM_UNCERTAINTIES", "/elsewhere/calibrated.json")
    with pytest.raises(ValueError, match="TELESIM_UNCERTAINTIES None") as err:
        local_dask.check_workers()
    assert "same telesim commit" in str(err.value)


PARENT = """
import os, sys, time
sys.path.insert(0, {root!r})
from infra.execution import LocalExecutor

def pid(_):
    return os.getpid()

if __name__ == "__main__":
    ex = LocalExecutor(1)
    print(ex.map(pid, [0])[0], flush=True)
    time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_pool_worker_ends_when_its_parent_is_killed(tmp_path):
    """kill -9 of the process that started a pool leaves no worker behind."""
    from pathlib import Path

    script = tmp_path / "parent.py"
    script.write_text(PARENT.format(root=str(Path(__file__).resolve().parents[2])))
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        worker = int(parent.stdout.readline())
        assert _alive(worker)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 20
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(worker)
