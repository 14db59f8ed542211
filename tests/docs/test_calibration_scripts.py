"""The scripts that made the committed calibration's last step import against today's code and
say how to call them (their runs take minutes: docs/calibration.md gives the figures)."""

from __future__ import annotations

import hashlib
import importlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "script",
    [
        "refine_stage_a.py",
        "refit_stage_b.py",
        "refine_stage_b.py",
        "write_stage_b.py",
        "refresh_record.py",
        "figure_sensitivity.py",
        "stage_b_posterior.py",
        "launch_cohorts_probe.py",
        "carry_stage_b.py",
        "choice_level_coordinates.py",
    ],
)
def test_the_script_imports_and_prints_its_usage(script):
    done = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "examples" / script)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1  # sys.exit(usage)
    assert f"python docs/examples/{script}" in done.stderr


def test_the_sensitivity_moves_stay_inside_the_bounds_and_rescale_to_the_full_step():
    sys.path.insert(0, str(ROOT / "docs" / "examples"))
    try:
        from figure_sensitivity import _pair
    finally:
        sys.path.pop(0)
    base = {"summer_need_drop": 0.3, "max_video_share": 1.0, "repeat_odds": 10.0}
    # inside: a central move of step x range each way (range 0-0.6: 0.03)
    down, up, factor = _pair(base, "summer_need_drop", 0.05)
    assert (down["summer_need_drop"], up["summer_need_drop"]) == pytest.approx((0.27, 0.33))
    assert factor == pytest.approx(1.0)
    # at the upper bound: one-sided, inward, rescaled to the two-sided move
    down, up, factor = _pair(base, "max_video_share", 0.05)
    assert up["max_video_share"] == 1.0
    assert down["max_video_share"] == pytest.approx(1.0 - 0.05 * 0.99)
    assert factor == pytest.approx(2.0)
    # a log-scale parameter moves on log10 (range 1-50)
    down, up, factor = _pair(base, "repeat_odds", 0.02)
    step = 0.02 * np.log10(50.0)
    assert np.log10(up["repeat_odds"]) - 1.0 == pytest.approx(step)
    assert 1.0 - np.log10(down["repeat_odds"]) == pytest.approx(step)
    # the other values are those of the base
    assert up["summer_need_drop"] == 0.3 and down["max_video_share"] == 1.0


def test_a_stage_b_refinement_is_written_only_if_it_lowered_the_loss(tmp_path):
    sys.path.insert(0, str(ROOT / "docs" / "examples"))
    try:
        from write_stage_b import _refined
    finally:
        sys.path.pop(0)
    params = ["lockdown_open", "summer_peak_days"]
    assert _refined(tmp_path, params) is None  # no refinement run
    done = {
        "params": params,
        "seeds": [1, 2],
        "loss_before": 1.0,
        "loss_after": 0.9,
        "values": {"lockdown_open": 4, "summer_peak_days": 3.5},
    }
    (tmp_path / "refined.json").write_text(json.dumps(done))
    assert _refined(tmp_path, params)["values"] == {"lockdown_open": 4.0, "summer_peak_days": 3.5}
    assert _refined(tmp_path, params[:1]) is None  # a parameter outside the stage: not this run's
    subset = {**done, "params": params[:1], "values": {"lockdown_open": 4}}
    (tmp_path / "refined.json").write_text(json.dumps(subset))
    assert _refined(tmp_path, params)["values"] == {"lockdown_open": 4.0}  # the rest: the start
    (tmp_path / "refined.json").write_text(json.dumps({**done, "loss_after": 1.0}))
    assert _refined(tmp_path, params) is None  # no better than the start


def test_a_refinement_of_the_records_point_is_appended_and_written_to_every_row(
    tmp_path, monkeypatch
):
    sys.path.insert(0, str(ROOT / "docs" / "examples"))
    try:
        import write_stage_b
    finally:
        sys.path.pop(0)
    record, posterior = tmp_path / "calibrated.json", tmp_path / "posterior.csv"
    committed = json.loads((ROOT / "calibration" / "calibrated.json").read_text())
    committed["posterior"]["stage"] = "A"  # a record before stage B had a posterior of its own
    record.write_text(json.dumps(committed))
    posterior.write_text((ROOT / "calibration" / "posterior.csv").read_text())
    monkeypatch.setattr(write_stage_b, "RECORD", record)
    monkeypatch.setattr(write_stage_b, "POSTERIOR", posterior)
    block_before = json.loads(record.read_text())["stages"]["B"]
    search_before, earlier = block_before["search"], len(block_before.get("refined") or [])
    out = tmp_path / "refine"
    out.mkdir()
    with pytest.raises(SystemExit, match="neither de-B.json nor a refined.json"):
        write_stage_b.main(out)
    for k, value in enumerate((4.25, 4.5)):
        (out / "refined.json").write_text(
            json.dumps(
                {
                    "params": ["lockdown_open"],
                    "seeds": [1, 2],
                    "loss_before": 1.0 - k / 10,
                    "loss_after": 0.9 - k / 10,
                    "values": {"lockdown_open": value},
                }
            )
        )
        written = write_stage_b.main(out)
        assert written["uncertainties"]["lockdown_open"] == value
        refinements = written["stages"]["B"]["refined"]
        assert len(refinements) == earlier + k + 1  # appended, not replaced
        assert refinements[-1]["values"] == {"lockdown_open": value}
        assert written["stages"]["B"]["search"] == search_before  # the search's block kept
        rows = pd.read_csv(posterior)
        assert (rows["lockdown_open"] == value).all()
        assert json.loads(record.read_text()) == written


def _example(name: str):
    """A script of docs/examples, imported as a module."""
    sys.path.insert(0, str(ROOT / "docs" / "examples"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


def _stage_b_posterior():
    return _example("stage_b_posterior")


def test_stage_b_posterior_infers_both_stages_parameters_on_the_2020_figures_from_the_record():
    """The prior of the stage-A parameters is the committed posterior, the start the record's best
    set, the distance the 2020 figures only, the tolerance above the start's distance."""
    from calibration import stages
    from calibration.targets import window

    problem, abc = _stage_b_posterior().problem_and_settings(100, 200)
    a, b = stages.STAGES
    assert problem.space.names == (*a.params, *b.params)
    assert problem.inherited() == a.params
    assert {window(t) for t in problem.targets} == {"2020"}
    record = json.loads((ROOT / "calibration" / "calibrated.json").read_text())
    values = problem.space.values(problem.center)
    assert values == pytest.approx({k: record["uncertainties"][k] for k in values})
    assert abc.population == 200 and abc.start == "point"
    assert abc.tolerance > float(problem.objective(problem.center))
    assert "KDE" in _stage_b_posterior().design(problem)["prior"]


def test_a_stage_b_posterior_is_written_whole_and_then_guards_its_rows(tmp_path, monkeypatch):
    from calibration import pipeline, stages

    script = _stage_b_posterior()
    record, posterior = tmp_path / "calibrated.json", tmp_path / "posterior.csv"
    committed = json.loads((ROOT / "calibration" / "calibrated.json").read_text())
    committed["posterior"]["stage"] = "A"
    record.write_text(json.dumps(committed))
    rows = pd.read_csv(ROOT / "calibration" / "posterior.csv")
    posterior.write_text(rows.to_csv(index=False))
    monkeypatch.setattr(pipeline, "CALIBRATED_JSON", record)
    monkeypatch.setattr(pipeline, "POSTERIOR_CSV", posterior)
    out = tmp_path / "postB"
    out.mkdir()
    # a stage-B sample: every row its own lockdown_open, the weights equal
    rows["lockdown_open"] = np.linspace(3.0, 6.0, len(rows))
    rows["weight"] = 1.0 / len(rows)
    rows.to_csv(out / script.ROWS, index=False)
    summary = {"method": "replenishment", "evaluations": 12, "settings": {"population": 340}}
    (out / script.STATE).write_text(json.dumps(summary))
    written = script.write(out)
    assert pd.read_csv(posterior).equals(pd.read_csv(out / script.ROWS))
    post = written["posterior"]
    assert post["stage"] == "B" and post["rows"] == len(rows)
    assert post["distinct"] == len(rows)  # lockdown_open alone makes every row distinct
    assert post["sha256"] == hashlib.sha256(posterior.read_bytes()).hexdigest()
    assert written["stages"]["B"]["abc"]["evaluations"] == 12
    assert written["stages"]["B"]["abc_settings"] == {"population": 340}
    # the point estimate's note no longer says its posterior is still to run
    note = written["stages"]["B"]["note"]
    assert "still to run" not in note and "then the ABC posterior of stages A and B" in note
    assert "prior:" in written["stages"]["B"]["description"]
    assert script.write(out)["stages"]["B"]["note"] == note  # written again: the same note
    assert written["unstaged"] == stages.unstaged(stages.select(["A", "B"]))
    ident = written["identifiability"]
    verdicts = ident["identified"] + ident["weakly_identified"] + ident["not_identified"]
    assert sorted(verdicts) == sorted([*stages.STAGES[0].params, *stages.STAGES[1].params])
    assert json.loads(record.read_text()) == written
    # writing a stage-B point into every row would now erase that posterior: refused
    sys.path.insert(0, str(ROOT / "docs" / "examples"))
    try:
        import write_stage_b
    finally:
        sys.path.pop(0)
    monkeypatch.setattr(write_stage_b, "RECORD", record)
    monkeypatch.setattr(write_stage_b, "POSTERIOR", posterior)
    (out / "refined.json").write_text(
        json.dumps(
            {
                "params": ["lockdown_open"],
                "seeds": [1, 2],
                "loss_before": 1.0,
                "loss_after": 0.9,
                "values": {"lockdown_open": 4.0},
            }
        )
    )
    with pytest.raises(SystemExit, match="stage B's posterior"):
        write_stage_b.main(out)
    assert pd.read_csv(posterior).equals(pd.read_csv(out / script.ROWS))  # nothing written


def test_stage_b_generation_0_spreads_follow_the_2020_distance_along_each_axis(
    tmp_path, monkeypatch
):
    """``--spreads``: each stage-B parameter's sd is the move at which a quadratic through the
    distance's rise spends an equal share of the tolerance's margin, the steeper side deciding,
    kept between the floor and the cap; checked on a known quadratic distance in place of the
    model (a 2020 run takes seconds; docs/calibration.md has the real profile)."""
    script = _stage_b_posterior()
    problem, abc = script.problem_and_settings(0)
    names = list(problem.space.names)
    low, high = np.asarray(problem.space.low), np.asarray(problem.space.high)
    center = np.asarray(problem.center, dtype=float)
    d0 = 0.5
    # curvature per unit share of the range; lockdown_open steeper upwards than downwards
    steep = {"lockdown_open": (100.0, 400.0), "lockdown_uptake_weeks": (1e7, 1e7)}

    def fake(job):
        _, _, x = job
        z = (np.asarray(x) - center) / (high - low)
        d = d0
        for n, (down, up) in steep.items():
            i = names.index(n)
            d += (up if z[i] > 0 else down) * z[i] ** 2
        return {"q": np.zeros(1)}, d

    monkeypatch.setattr(script, "evaluate", fake)
    monkeypatch.setattr(script, "problem_and_settings", lambda *a: (problem, abc))
    spreads = script.axis_spreads(tmp_path, 0.05, workers=1)
    new = [n for n in names if n not in problem.inherited()]
    assert list(spreads) == new
    margin = (abc.tolerance - d0) / len(new)
    i = names.index("lockdown_open")
    moved_up = min(center[i] + 0.05 * (high[i] - low[i]), high[i]) - center[i]
    assert moved_up > 0
    assert spreads["lockdown_open"] == pytest.approx(np.sqrt(margin / 400.0))  # the steeper side
    assert spreads["lockdown_uptake_weeks"] == script.SPREAD_FLOOR
    assert spreads["price_effect"] == script.SPREAD_CAP  # the distance does not move
    saved = json.loads((tmp_path / script.SPREADS).read_text())
    assert saved["init_spreads"] == spreads and saved["start_distance"] == d0


def test_the_gated_stage_b_problem_keeps_stage_a_by_its_tolerance_not_by_a_kde():
    """START_A ``gate``: uniform priors (nothing inherited), every training figure simulated,
    the 2018-2019 ones a gate at stage A's final tolerance, the 2020 ones the distance; the start
    is inside the gate and generation 0 draws stage A from the committed rows."""
    from calibration.inference import GatedDistance
    from calibration.targets import window

    script = _stage_b_posterior()
    problem, abc = script.problem_and_settings(100, 200, None, script.GATE)
    record = json.loads((ROOT / "calibration" / "calibrated.json").read_text())
    gate = problem.distance
    assert isinstance(gate, GatedDistance) and problem.inherited() == ()
    assert {window(t) for t in problem.targets} == {"2018-2019", "2020"}
    assert set(gate.gate) == {t.id for t in problem.targets if window(t) == "2018-2019"}
    a_eps = record["stages"]["A"]["abc"]["diagnostics"]["final_epsilon"]
    assert gate.gate_tolerance == a_eps
    assert problem.start_rows is not None and len(problem.start_rows.weights) == len(
        pd.read_csv(ROOT / "calibration" / "posterior.csv")
    )
    assert problem.fingerprint(abc)["distance"]["gate_tolerance"] == a_eps
    assert abc.tolerance > 0 and abc.init_inherited == "point"
    # its summary (then the record) says so, not the KDE run's words
    said = script.design(problem)
    assert "gate" in said["prior"] and "KDE" not in said["prior"]
    assert "within the gate" in said["distance"]


def _choice_level_coordinates():
    return _example("choice_level_coordinates")


def test_the_choice_level_coordinates_give_the_same_age_profile_and_rename_everything():
    """Old values (level at 40-59, 20-39 above it) carried into the new coordinates give the same
    five log-odds; names are renamed in lists and text, other values left alone."""
    from model import Uncertainties
    from model.rules import age_logits

    script = _choice_level_coordinates()
    old = {"choice_logit": -3.58, "choice_age": 0.05, "choice_child_gap": -0.48}
    old |= {"choice_young_gap": 1.03, "repeat_odds": 30.0}
    record = script._carry({"best": old, "names": ["choice_logit"], "note": "choice_young_gap x"})
    new = record["best"]
    assert list(new) == [
        *("choice_level", "choice_age", "choice_child_gap", "choice_young_senior_gap"),
        "repeat_odds",
    ]
    profile = age_logits(Uncertainties(**{k: v for k, v in new.items() if k != "repeat_odds"}))
    expected = -3.58 + np.array([0.1 - 0.48, 1.03, 0.0, 0.05, 0.1])
    assert profile == pytest.approx(expected, abs=1e-12)
    assert record["names"] == ["choice_level"] and record["note"] == "choice_young_senior_gap x"


def test_the_choice_level_coordinates_refuse_a_posterior_a_box_truncates():
    from calibration.objective import SearchSpace

    script = _choice_level_coordinates()
    space = SearchSpace.from_specs(list(script.RENAMED.values()))
    frame = pd.DataFrame({"choice_logit": [-9.9, -3.0], "choice_young_gap": [0.5, 1.0]})
    new = pd.DataFrame({"choice_level": [-3.0, -3.1], "choice_young_senior_gap": [0.2, 0.4]})
    with pytest.raises(SystemExit, match="choice_logit: the posterior reaches within 5%"):
        script._check_inside(frame, new, space)
    frame["choice_logit"] = [-4.0, -3.0]
    script._check_inside(frame, new, space)  # inside both boxes
    new["choice_young_senior_gap"] = [0.2, 7.9]
    with pytest.raises(SystemExit, match="choice_young_senior_gap: the posterior reaches within"):
        script._check_inside(frame, new, space)
