"""The report is computed from the runs on disk and reproduces itself."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from experiments import least_change, outcomes, report
from experiments.runner import run_experiment
from experiments.scenarios import load_scenario


@pytest.fixture(scope="module")
def experiment(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("exp")
    scenarios = [load_scenario("baseline"), load_scenario("all_levers")]
    run_experiment(
        scenarios, replicates=2, out=out, end="2019-12-31", scale=20000, params="best",
        progress=False,
    )  # fmt: skip
    least_change.run_least_change(
        out, levers=["awareness_campaign"], rounds=1, progress=False, targets={2019: 500_000}
    )
    return out


def test_report_numbers_come_from_disk_and_rerun_is_identical(experiment, tmp_path, capsys):
    first = report.write_report(experiment, tmp_path / "r1")
    answer = capsys.readouterr().out
    second = report.write_report(experiment, tmp_path / "r2")
    text = first.read_text()
    assert text == second.read_text()
    for name in ("annual.csv", "least_change.csv", "runs.csv"):
        assert (tmp_path / "r1/tables" / name).read_bytes() == (
            tmp_path / "r2/tables" / name
        ).read_bytes()
    for fig in ("annual", "weekly_1_singles", "weekly_2_combinations", "regions"):
        assert (tmp_path / "r1/figures" / f"{fig}.png").stat().st_size > 10_000
    # the baseline's 2019 mean in the report is the mean of the runs' own weekly tables
    weekly = [
        pd.read_parquet(p) for p in sorted((experiment / "runs/baseline").rglob("weekly.parquet"))
    ]
    totals = [outcomes.annual_split(w["week_start"], w["acts"], "2019-12-31")[2019] for w in weekly]
    mean = sum(totals) / len(totals)
    assert f"| 2019 | {mean:,.0f} |" in text
    assert "## The answer" in text and "2019 target   500,000" in answer
    assert "awareness_campaign" in text  # least-change table
    assert "No calibration ensemble" in text or "ensemble" in text


def test_least_change_is_recomputed_from_disk(experiment):
    table = least_change.analyse(experiment)
    assert set(table["lever"]) == {"awareness_campaign"}
    assert set(table["level"]) == {0.5, 0.9}
    row = table[table["level"] == 0.5].iloc[0]
    assert row["status"] in {"bracket", "unreachable", "baseline"}
    if row["status"] == "bracket":
        assert 0 <= row["t_low"] < row["t_estimate"] <= row["t_high"] <= 1
