"""Recovery: targets simulated from known parameters are recovered by the whole pipeline.

Small on purpose: two parameters, the figures known by 17 March 2019, a coarse population
(2,000 persons per patient agent), one replicate seed and a tiny budget.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from calibration.objective import Objective, SearchSpace, training_seeds
from calibration.pipeline import CalibrationSettings, calibrate
from calibration.search import SearchSettings
from calibration.targets import OBSERVED_CSV, load_targets, training_targets
from model import Uncertainties, best_uncertainties

TRUE = {"choice_logit": -3.0, "open_share": 0.02}
SCALE = 2000


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """An observed.csv whose training figures to 17 Mar 2019 are the model's at TRUE."""
    targets = training_targets(load_targets(), "2019-03-17")
    space = SearchSpace.from_specs(list(TRUE))
    base = {k: v for k, v in Uncertainties().to_dict().items() if k not in TRUE}
    objective = Objective(space, tuple(targets), tuple(training_seeds(1)), SCALE, base)
    values = objective.replicates(space.coords(TRUE))[0]
    df = pd.read_csv(OBSERVED_CSV, dtype=str, keep_default_na=False)
    ids = {t.id: v for t, v in zip(targets, values, strict=True)}
    df = df[df["id"].isin(ids)].copy()
    df["value"] = [repr(float(ids[i])) for i in df["id"]]
    df["bound"] = "point"
    path = tmp_path_factory.mktemp("recovery") / "observed.csv"
    df.to_csv(path, index=False)
    assert all(replace(t, value=1.0) for t in targets)
    return path


def test_known_parameters_are_recovered(synthetic, tmp_path, monkeypatch):
    settings = CalibrationSettings(
        search=SearchSettings(budget=60, popsize=5, seed=0, refine=12),
        replicates=1,
        scale=SCALE,
        params=tuple(TRUE),
        report_replicates=2,
        ensemble_runs=2,
        ensemble_samples=20,
    )
    out = tmp_path / "run"
    summary = calibrate(
        settings,
        out,
        observed=synthetic,
        calibrated_path=tmp_path / "calibrated.json",
        ensemble_path=tmp_path / "ensemble.csv",
        progress=False,
        log=lambda *a: None,
    )
    params = pd.read_csv(out / "parameters.csv").set_index("parameter")
    for name, true in TRUE.items():
        best = summary["uncertainties"][name]
        lo, hi = params.loc[name, "q05"], params.loc[name, "q95"]
        assert lo <= true <= hi, (name, true, lo, hi)
        if name == "open_share":
            # to 17 Mar 2019 there is no doctor count: openness trades off against choice, so
            # the point estimate is only asked to be within a factor of 2
            assert abs(np.log10(best / true)) < 0.3
        else:
            assert abs(best - true) < 0.3
    assert summary["loss"] < 0.5

    # calibrated.json holds every field and is what best_uncertainties() reads
    data = json.loads((tmp_path / "calibrated.json").read_text())
    assert set(data["uncertainties"]) == set(Uncertainties().to_dict())
    for key in ("loss", "targets_sha256", "seeds", "settings", "date"):
        assert key in data
    monkeypatch.setenv("TELESIM_UNCERTAINTIES", str(tmp_path / "calibrated.json"))
    unc, _ = best_uncertainties()
    assert unc.choice_logit == summary["uncertainties"]["choice_logit"]

    # ensemble.csv: every field plus loss, best first and equal to the calibrated set
    ens = pd.read_csv(tmp_path / "ensemble.csv")
    assert list(ens.columns) == [*Uncertainties().to_dict(), "loss"]
    assert ens["loss"].is_monotonic_increasing and len(ens) <= 200
    assert ens.loc[0, "choice_logit"] == data["uncertainties"]["choice_logit"]

    # the run folder
    for name in (
        "fit_table.csv",
        "convergence.csv",
        "report.md",
        "acts_weekly.png",
        "shares.png",
        "parameters.png",
        "summary.json",
        "checkpoint.json",
    ):
        assert (out / name).is_file(), name
    table = pd.read_csv(out / "fit_table.csv")
    assert {"observed", "simulated_mean", "simulated_q05", "simulated_q95", "error", "bass"} <= set(
        table.columns
    )
