"""Experiments draw replicates from the calibration posterior (weighted), and say which posterior
and how many draws; without a posterior they fall back to the ensemble."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from experiments import runner
from experiments.runner import ExperimentError
from model import Uncertainties


def write_posterior(path, weights, **changes) -> pd.DataFrame:
    rows = []
    for i, w in enumerate(weights):
        values = Uncertainties().to_dict()
        values["choice_level"] = -3.0 + 0.1 * i
        values.update(changes)
        rows.append({**values, "weight": w, "loss": 1.0 + i})
    frame = pd.DataFrame(rows)
    frame.to_csv(path, index=False)
    return frame


@pytest.fixture
def posterior(tmp_path, monkeypatch):
    path = tmp_path / "posterior.csv"
    write_posterior(path, [0.5, 0.3, 0.2, 0.0])
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    record = tmp_path / "calibrated.json"
    record.write_text(
        json.dumps({"date": "2026-11-24", "posterior": {"sha256": sha, "stage": "B"}})
    )
    monkeypatch.setattr(runner, "POSTERIOR_CSV", path)
    monkeypatch.setattr(runner, "CALIBRATED_JSON", record)
    return path, sha


def test_the_posterior_is_the_default_and_the_note_says_which(posterior):
    path, sha = posterior
    sets, note = runner.load_parameter_sets()
    assert len(sets) == 4 and [s.weight for s in sets] == [0.5, 0.3, 0.2, 0.0]
    assert all(s.id.startswith("p") for s in sets)
    assert sets[1].values["choice_level"] == pytest.approx(-2.9)
    assert sha[:12] in note and "stage B posterior, calibration of 2026-11-24" in note
    assert "4 sets" in note


def test_a_posterior_file_the_record_does_not_know_is_dated_by_the_file(posterior):
    path, _ = posterior
    write_posterior(path, [0.25, 0.25, 0.25, 0.25])
    _, note = runner.load_parameter_sets("posterior")
    assert "file dated" in note


def test_weighted_draws_follow_the_weights_and_are_prefix_stable(posterior):
    sets, _ = runner.load_parameter_sets()
    plan = runner.replicate_plan(4000, sets, 7)
    counts = pd.Series([p["param_id"] for p in plan]).value_counts()
    shares = np.array([counts.get(s.id, 0) for s in sets]) / 4000
    np.testing.assert_allclose(shares, [0.5, 0.3, 0.2, 0.0], atol=0.03)
    assert runner.replicate_plan(10, sets, 7) == plan[:10]
    assert runner.replicate_plan(10, sets, 8) != plan[:10]
    assert runner.draws_note(plan[:10], sets).startswith("10 weighted draws (")


def test_without_a_posterior_the_ensemble_is_used(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "POSTERIOR_CSV", tmp_path / "none.csv")
    sets, note = runner.load_parameter_sets()
    ensemble, _ = runner.load_parameter_sets("ensemble")
    assert [s.id for s in sets] == [s.id for s in ensemble]
    assert "no posterior at" in note
    assert all(s.weight is None for s in sets)


def test_bad_weights_are_refused(tmp_path):
    path = tmp_path / "bad.csv"
    write_posterior(path, [0.5, -0.1])
    with pytest.raises(ExperimentError, match="weight"):
        runner.load_parameter_sets(path)


def test_the_experiment_records_the_posterior_and_the_draws(posterior, tmp_path):
    from experiments.scenarios import load_scenario

    design, stats = runner.run_experiment(
        [load_scenario("baseline")],
        replicates=2,
        out=tmp_path / "exp",
        end="2018-11-30",
        scale=20000,
        progress=False,
    )
    assert stats.computed == 2
    assert "calibration posterior" in design.params_note
    assert "2 weighted draws" in design.params_note
    assert {p["param_id"] for p in design.plan} <= set(design.param_sets)
