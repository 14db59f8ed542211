"""The runner: paired seeds, resume after an interruption, identical results, no mixed runs.

Runs are tiny (coarse scale, a few months) so the whole file takes seconds.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from experiments import runner
from experiments.runner import ExperimentError, RunSpec, execute, run_experiment
from experiments.scenarios import load_scenario

ROOT = Path(__file__).resolve().parents[2]
TINY = {"end": "2019-02-28", "scale": 20000, "params": "best", "progress": False}


class Interrupt(Exception):
    pass


def _tables(out: Path) -> dict[str, pd.DataFrame]:
    return {
        str(p.relative_to(out)): pd.read_parquet(p)
        for p in sorted((out / "runs").rglob("*.parquet"))
    }


def test_replicate_seeds_come_from_one_root_and_are_prefix_stable():
    sets = [runner.ParamSet(f"p{i}", {}) for i in range(3)]
    plan5 = runner.replicate_plan(5, sets, 42)
    plan3 = runner.replicate_plan(3, sets, 42)
    assert plan5[:3] == plan3
    assert len({p["seed"] for p in plan5}) == 5
    assert {p["param_id"] for p in plan5[:3]} == {"p0", "p1", "p2"}  # without replacement first
    assert runner.replicate_plan(3, sets, 43) != plan3


def test_every_scenario_meets_the_same_replicates(tmp_path):
    scenarios = [load_scenario("baseline"), load_scenario("open_access")]
    design, stats = run_experiment(scenarios, replicates=2, out=tmp_path, **TINY)
    assert stats.computed == 4
    keys = {}
    for meta in (tmp_path / "runs").rglob("metadata.json"):
        m = json.loads(meta.read_text())
        keys.setdefault(m["label"], set()).add((m["param_id"], m["seed"]))
    assert keys["baseline"] == keys["open_access"]
    assert keys["baseline"] == {(p["param_id"], p["seed"]) for p in design.plan}


def test_interrupted_experiment_resumes_without_redoing_runs_and_gives_identical_results(
    tmp_path,
):
    scenarios = [load_scenario("baseline"), load_scenario("no_known_patient_rule")]
    full = tmp_path / "uninterrupted"
    run_experiment(scenarios, replicates=3, out=full, **TINY)

    part = tmp_path / "interrupted"
    saved = []

    def stop_after_two(spec, path):
        saved.append(spec.key)
        if len(saved) == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        run_experiment(scenarios, replicates=3, out=part, on_saved=stop_after_two, **TINY)
    assert len(list((part / "runs").rglob("metadata.json"))) == 2
    _, stats = run_experiment(scenarios, replicates=3, out=part, **TINY)
    assert (stats.total, stats.skipped, stats.computed) == (6, 2, 4)
    assert not set(stats.computed_keys) & set(saved)  # nothing done twice
    a, b = _tables(full), _tables(part)
    assert a.keys() == b.keys() and len(a) == 6 * len(runner.TABLES)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name])
    # a third call finds everything on disk
    _, again = run_experiment(scenarios, replicates=3, out=part, **TINY)
    assert (again.skipped, again.computed) == (6, 0)


def test_a_run_on_disk_with_other_settings_is_never_reused(tmp_path):
    from model import Levers, Uncertainties

    spec = RunSpec(
        "x", "p", 1, Levers().to_dict(), Uncertainties().to_dict(), end="2018-10-31", scale=20000
    )
    execute([spec], tmp_path, progress=False)
    other = RunSpec(
        "x",
        "p",
        1,
        Levers(coverage_rate=1.0).to_dict(),
        Uncertainties().to_dict(),
        end="2018-10-31",
        scale=20000,
    )
    with pytest.raises(ExperimentError, match="different"):
        execute([other], tmp_path, progress=False)


def test_killed_process_resumes(tmp_path):
    """SIGKILL a real ``telesim experiment`` mid-way; the re-run completes only what is missing."""
    out = tmp_path / "exp"
    cmd = [
        sys.executable, "-m", "cli", "experiment", "baseline", "open_access",
        "--replicates", "4", "--end", "2019-02-28", "--scale", "20000", "--ensemble", "best",
        "--out", str(out), "--no-progress",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(list(out.glob("runs/*/*/seed-*/metadata.json"))) < 2:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list(out.glob("runs/*/*/seed-*/metadata.json")))
    assert 2 <= done < 8
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    computed, skipped = map(int, re.search(r"(\d+) computed, (\d+) already", res.stderr).groups())
    assert (computed, skipped) == (8 - done, done)
    assert len(list(out.glob("runs/*/*/seed-*/metadata.json"))) == 8
    assert not [p for p in (out / "runs").rglob(".*")]  # no temporary left behind


def test_a_run_of_another_model_version_is_run_again(tmp_path):
    from model import Levers, Uncertainties

    spec = RunSpec(
        "x", "p", 1, Levers().to_dict(), Uncertainties().to_dict(), end="2018-10-31", scale=20000
    )
    assert execute([spec], tmp_path, progress=False).computed == 1
    meta_path = runner.spec_dir(tmp_path, spec) / "metadata.json"
    meta = json.loads(meta_path.read_text())
    assert meta["model_hash"] == runner.model_hash()
    assert execute([spec], tmp_path, progress=False).computed == 0
    meta_path.write_text(json.dumps({**meta, "model_hash": "older-model"}))
    assert execute([spec], tmp_path, progress=False).computed == 1
    assert json.loads(meta_path.read_text())["model_hash"] == runner.model_hash()
