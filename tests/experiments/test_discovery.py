"""Scenario discovery: PRIM finds a planted box; weighted draws; the design runs and resumes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from experiments import discovery
from experiments.runner import draw_parameter_sets, run_experiment
from experiments.scenarios import load_scenario

pytest.importorskip("ema_workbench", reason="the 'decision' extra is not installed")


def test_prim_finds_a_planted_box():
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.random((400, 3)), columns=["a", "b", "c"])
    y = ((x["a"] > 0.6) & (x["b"] < 0.4)).to_numpy()
    box = discovery.prim_box(x, y)
    assert box["met_goal"] and box["density"] >= 0.8 and box["coverage"] >= 0.8
    limits = box["limits"]
    assert set(limits) == {"a", "b"}
    assert limits["a"][0] == pytest.approx(0.6, abs=0.05) and limits["a"][1] is None
    assert limits["b"][1] == pytest.approx(0.4, abs=0.05) and limits["b"][0] is None
    assert discovery.prim_box(x, np.zeros(400, dtype=bool)) is None


def test_parameter_draws_follow_the_weights():
    sets = {"a": {"weight": 0.0}, "b": {"weight": 3.0}, "c": {"weight": 1.0}}
    ids = draw_parameter_sets(sets, 2000, np.random.default_rng(1))
    assert "a" not in ids
    assert np.mean(np.array(ids) == "b") == pytest.approx(0.75, abs=0.03)
    unweighted = draw_parameter_sets({"a": {}, "b": {}}, 2000, np.random.default_rng(1))
    assert np.mean(np.array(unweighted) == "a") == pytest.approx(0.5, abs=0.04)


def test_the_design_runs_and_its_boxes_come_from_disk(tmp_path):
    run_experiment(
        [load_scenario("baseline")], replicates=1, out=tmp_path, end="2019-12-31", scale=20000,
        params="best", progress=False,
    )  # fmt: skip
    levers = ["known_patient_rule_until", "awareness_campaign"]
    record = discovery.run_discovery(tmp_path, samples=8, levers=levers, progress=False)
    assert len(record["samples"]) == 8 and len({s["seed"] for s in record["samples"]}) == 8
    table, dims, _ = discovery.design_table(tmp_path)
    assert len(table) == 8 and [d.lever for d in dims] == levers
    assert table[levers].min().min() >= 0 and table[levers].max().max() <= 1
    target = float(np.median(table["acts_2019"]))
    boxes = discovery.analyse(tmp_path, {2019: target})
    assert boxes.iloc[0]["hit_share"] == pytest.approx(np.mean(table["acts_2019"] >= target))
    assert isinstance(boxes.iloc[0]["box"], str)
