"""The whole calibration at toy size: point estimate, posterior, report and outputs; and parameter
recovery on synthetic figures (replaces the older point-estimate recovery test).

Toy size: stage A restricted to two parameters, one replicate seed, a coarse population of
persons (20,000 per patient agent), 10 particles. The recovery check at a larger size
(``TELESIM_SLOW=1``, or ``telesim calibrate --recovery``) gives the closing note's figures.
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pandas as pd
import pytest

from calibration.inference import AbcSettings
from calibration.pipeline import CalibrationSettings, calibrate
from calibration.recovery import recover
from calibration.search import SearchSettings
from calibration.stages import STAGES, Stage
from model import Uncertainties, best_uncertainties

TWO = ("choice_level", "open_share_urban")


def quiet(*args, **kwargs):
    pass


def toy_settings(abc_evaluations: int = 80, generations: int = 1) -> CalibrationSettings:
    stage = Stage(
        "A", "toy", ("2018-2019",), TWO, de_budget=20, de_refine=0, abc_evaluations=abc_evaluations
    )
    return CalibrationSettings(
        search=SearchSettings(popsize=5, seed=0),
        abc=AbcSettings(population=10, generations=generations, seed=0),
        stages=(stage,),
        replicates=1,
        scale=20000,
        report_replicates=2,
        predictive_draws=4,
    )


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("calibration")
    summary = calibrate(
        toy_settings(),
        tmp / "run",
        calibrated_path=tmp / "calibrated.json",
        posterior_path=tmp / "posterior.csv",
        progress=False,
        log=quiet,
    )
    return tmp, summary


def test_posterior_csv_has_every_field_and_a_weight(calibrated):
    tmp, summary = calibrated
    post = pd.read_csv(tmp / "posterior.csv")
    assert list(post.columns) == [*Uncertainties().to_dict(), "weight", "loss"]
    data = json.loads((tmp / "calibrated.json").read_text())
    # equal weights: copies a move left in place are duplicates, counted as such
    distinct = len(post[list(TWO)].drop_duplicates())
    assert len(post) == 10 and distinct == data["posterior"]["distinct"] >= 5
    assert post.weight.sum() == pytest.approx(1.0) and (post.weight > 0).all()
    assert post["loss"].is_monotonic_increasing
    for name, value in data["uncertainties"].items():  # not fitted: the calibrated set's value
        if name not in TWO:
            assert (post[name] == value).all(), name
    text = (tmp / "posterior.csv").read_text()
    assert data["posterior"]["sha256"] == hashlib.sha256(text.encode()).hexdigest()


def test_calibrated_json_records_the_inference(calibrated, monkeypatch):
    tmp, summary = calibrated
    data = json.loads((tmp / "calibrated.json").read_text())
    assert "ABC-SMC with equal weights" in data["method"]
    abc = data["stages"]["A"]["abc"]
    assert abc["population"] == 10 and len(abc["epsilons"]) == 2
    assert len(abc["acceptance_rates"]) == len(abc["ess"]) == 2
    assert abc["epsilons"][1] <= abc["epsilons"][0]
    assert {"stop_reason", "stable", "final_ess"} <= set(abc["diagnostics"])
    assert abc["method"] == "replenishment" and abc["ess"] == [10.0, 10.0]
    assert data["posterior"]["rows"] == 10 and data["posterior"]["ess"] > 1
    assert data["predictive"]["fitted"]["figures"] == 25
    assert set(data["identifiability"]) >= {"identified", "not_identified", "strong_pairs"}
    assert data["calibrated"] == list(TWO)
    for key in ("loss", "targets_sha256", "seeds", "settings", "date", "fit", "bass"):
        assert key in data
    monkeypatch.setenv("TELESIM_UNCERTAINTIES", str(tmp / "calibrated.json"))
    unc, _ = best_uncertainties()
    assert unc.choice_level == data["uncertainties"]["choice_level"]


def test_a_run_out_of_abc_budget_resumes_with_a_larger_one(calibrated, tmp_path):
    """The point estimate is reused (its checkpoint ignores the ABC budget) and the posterior
    is the one of the run given the larger budget from the start."""
    tmp, _ = calibrated
    paths = {"calibrated_path": tmp_path / "c.json", "posterior_path": tmp_path / "p.csv"}
    first = calibrate(
        toy_settings(abc_evaluations=25, generations=0),
        tmp_path / "run",
        progress=False,
        log=quiet,
        **paths,
    )
    assert first["stages"]["A"]["abc"]["diagnostics"]["stop_reason"].startswith(
        ("evaluation budget", "generations")
    )
    point = (tmp_path / "run" / "de-A.json").read_bytes()
    calibrate(toy_settings(), tmp_path / "run", resume=True, progress=False, log=quiet, **paths)
    assert (tmp_path / "run" / "de-A.json").read_bytes() == point
    assert (tmp_path / "p.csv").read_bytes() == (tmp / "posterior.csv").read_bytes()


def test_run_folder(calibrated):
    tmp, _ = calibrated
    out = tmp / "run"
    for name in (
        "report.md",
        "fit_table.csv",
        "abc_trace.csv",
        "convergence.csv",
        "posterior.csv",
        "identifiability.csv",
        "identifiability.md",
        "correlations.csv",
        "summary.json",
        "acts_weekly.png",
        "abc.png",
        "parameters.png",
        "mcmc-A.json",
        "de-A.json",
    ):
        assert (out / name).is_file(), name
    table = pd.read_csv(out / "fit_table.csv")
    assert {"predictive_q05", "predictive_q95", "covered", "bass", "window"} <= set(table.columns)
    ident = pd.read_csv(out / "identifiability.csv")
    assert ident.parameter.tolist() == list(TWO)
    assert {"width_ratio", "contraction", "q05", "q95", "posterior_median"} <= set(ident.columns)
    text = (out / "report.md").read_text()
    assert "## Identifiability" in text and "## Fit per window" in text


def test_experiments_read_the_posterior(calibrated):
    from experiments import runner

    tmp, _ = calibrated
    sets, note = runner.load_parameter_sets(tmp / "posterior.csv")
    assert len(sets) == 10 and all(s.weight is not None for s in sets)
    plan = runner.replicate_plan(6, sets, 1)
    assert len(plan) == 6


def test_parameters_are_recovered(tmp_path):
    """Figures to 17 Mar 2019 simulated at a known set; the 90% credible intervals of the two
    parameters hold the true values."""
    stage = Stage(
        "A", "recovery", ("2018-2019",), TWO, de_budget=20, de_refine=0, abc_evaluations=260
    )
    settings = CalibrationSettings(
        search=SearchSettings(popsize=5, seed=0),
        abc=AbcSettings(population=20, generations=3, seed=1),
        stages=(stage,),
        replicates=1,
        scale=2000,
        until="2019-03-17",
    )
    truth = {"choice_level": -3.6, "open_share_urban": 0.2}
    result = recover(settings, tmp_path, truth=truth, progress=False, log=quiet)
    table = result["table"].set_index("parameter")
    for name, value in truth.items():
        assert table.loc[name, "true"] == pytest.approx(value)
        assert table.loc[name, "q05"] <= value <= table.loc[name, "q95"], table
    assert result["summary"]["share_inside"] == 1.0
    assert (tmp_path / "recovery.md").is_file() and (tmp_path / "recovery.csv").is_file()


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("TELESIM_SLOW"), reason="set TELESIM_SLOW=1 (minutes)")
def test_stage_a_parameters_are_recovered(tmp_path):
    """Every stage-A parameter, the whole 2018-2019 window, at the committed calibration:
    the true value inside the 90% credible interval for at least 80% of them."""
    stage = STAGES[0]
    settings = CalibrationSettings(
        search=SearchSettings(seed=0),
        abc=AbcSettings(population=100, generations=6, seed=0),
        stages=(Stage(**{**stage.__dict__, "de_budget": 320, "de_refine": 0}),),
        replicates=1,
        scale=1000,
    )
    result = recover(settings, tmp_path, progress=False, log=quiet)
    assert result["summary"]["share_inside"] >= 0.8, result["table"]
    assert np.isfinite(result["summary"]["ess"])


def test_later_stage_scores_only_its_new_window(tmp_path):
    """Stage B's ABC distance is its 2020 figures alone (the 2018-2019 ones are in its prior,
    stage A's posterior): sequential Bayes, no figure counted twice. The best set is still judged
    on every figure of the stage, as the point estimate is."""
    from calibration.objective import Objective, training_seeds
    from calibration.pipeline import _particle_loss, distance_targets, run_stages
    from calibration.targets import load_targets, window

    a = Stage(
        "A", "toy", ("2018-2019",), ("choice_level",), de_budget=0, de_refine=0, abc_evaluations=30
    )
    b = Stage(
        "B",
        "toy",
        ("2018-2019", "2020"),
        ("lockdown_pull",),
        de_budget=0,
        de_refine=0,
        abc_evaluations=20,
    )
    settings = CalibrationSettings(
        abc=AbcSettings(population=6, generations=1, seed=0),
        stages=(a, b),
        replicates=1,
        scale=20000,
    )
    runs = run_stages(settings, load_targets(), tmp_path, progress=False, log=quiet)
    stage_a, stage_b = runs
    assert {window(t) for t in stage_a.scored} == {"2018-2019"}
    assert stage_a.scored == stage_a.fitted
    assert {window(t) for t in stage_b.fitted} == {"2018-2019", "2020"}
    assert {window(t) for t in stage_b.scored} == {"2020"}
    post = stage_b.abc.posterior
    only_2020 = Objective(
        post.space, tuple(stage_b.scored), tuple(training_seeds(1)), 20000, dict(post.base)
    )
    assert only_2020(post.x[0]) == pytest.approx(post.loss[0])
    both = Objective(
        post.space, tuple(stage_b.fitted), tuple(training_seeds(1)), 20000, dict(post.base)
    )
    assert _particle_loss(stage_b, settings, post) == pytest.approx(both(post.x[0]))
    # no earlier stage, or no new window: every fitted figure is scored
    assert distance_targets(stage_b.fitted, {"2020"}, False) == stage_b.fitted
    assert distance_targets(stage_b.fitted, set(), True) == stage_b.fitted


def test_the_automatic_tolerance_is_a_chi_squared_region_above_the_point():
    from scipy.stats import chi2

    from calibration.loss import weight
    from calibration.pipeline import auto_tolerance
    from calibration.targets import load_targets, training_targets

    figures = training_targets(load_targets(), windows=("2018-2019",))
    n = sum(weight(t) for t in figures)
    assert n == pytest.approx(24.0)  # 25 figures, two of weight 1/2
    assert auto_tolerance(3.0, 19, figures) == pytest.approx(3.0 + chi2.ppf(0.9, 19) / n)
    # more parameters, a wider region; more figures, a narrower one
    assert auto_tolerance(3.0, 31, figures) > auto_tolerance(3.0, 19, figures)
    assert auto_tolerance(3.0, 19, figures) < auto_tolerance(3.0, 19, figures[:10])
