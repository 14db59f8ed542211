"""The decomposition of 2020: paired differences from the history, and the report's section."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from experiments import decomposition, report
from experiments.runner import run_experiment
from experiments.scenarios import load_scenario


def test_decomposition_pairs_runs_on_parameter_set_and_seed():
    rng = np.random.default_rng(0)
    seeds = np.arange(20)
    history = 1e6 + 1e5 * rng.standard_normal(20)
    rows = [
        {"label": "as_it_happened", "param_id": "p", "seed": s, "acts_2020": h, "acts_2021": h}
        for s, h in zip(seeds, history, strict=True)
    ]
    # without the phone: exactly 30% fewer acts, paired run by run (whatever the noise)
    rows += [
        {
            "label": "history_without_phone",
            "param_id": "p",
            "seed": s,
            "acts_2020": 0.7 * h,
            "acts_2021": h,
        }
        for s, h in zip(seeds, history, strict=True)
    ]
    table = decomposition.decomposition_table(pd.DataFrame(rows))
    r2020 = table[table["year"] == 2020].iloc[0]
    assert r2020["component"] == decomposition.COMPONENTS["history_without_phone"]
    assert r2020["share_low"] == pytest.approx(0.3) and r2020["share_high"] == pytest.approx(0.3)
    assert r2020["explained_mean"] == pytest.approx(0.3 * history.mean())
    r2021 = table[table["year"] == 2021].iloc[0]
    assert r2021["explained_mean"] == 0 and r2021["n"] == 20


def test_no_history_no_decomposition():
    rows = [{"label": "baseline", "param_id": "p", "seed": 0, "acts_2020": 1.0}]
    assert decomposition.decomposition_table(pd.DataFrame(rows)).empty


@pytest.fixture(scope="module")
def history_experiment(tmp_path_factory):
    out = tmp_path_factory.mktemp("history")
    names = ["baseline", "as_it_happened", "history_without_phone", "rules_2020_no_pandemic"]
    run_experiment(
        [load_scenario(n) for n in names],
        replicates=2,
        out=out,
        end="2020-12-31",
        scale=20000,
        params="best",
        progress=False,
    )
    return out


def test_report_shows_the_history_decomposition_and_no_pandemic_answer(
    history_experiment, tmp_path
):
    path = report.write_report(history_experiment, tmp_path / "r")
    text = path.read_text()
    assert "## 2020-2021: the history" in text
    assert "**The 2020 rules without the pandemic, from 15 Sep 2018**" in text
    assert "500,000 in 2019: P(hit)" in text and "1,000,000 in 2020: P(hit)" in text
    assert "phone teleconsultation" in text  # the decomposition's row
    for fig in ("history", "decomposition"):
        assert (tmp_path / "r/figures" / f"{fig}.png").stat().st_size > 10_000
    table = pd.read_csv(tmp_path / "r/tables/decomposition.csv")
    assert set(table["scenario"]) == {"history_without_phone"} and set(table["n"]) == {2}
