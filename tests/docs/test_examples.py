"""The EMA Workbench example of the docs runs, at a tiny size, and its outcomes are simulate's."""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("ema_workbench", reason="the 'decision' extra is not installed")

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "ema_study.py"


def test_ema_workbench_drives_simulate():
    from experiments.outcomes import annual_totals
    from model import simulate
    from model.params import START_DATE

    spec = importlib.util.spec_from_file_location("ema_study", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    end, scale = "2019-12-31", 20000
    experiments, outcomes = example.main(scenarios=2, policies=2, end=end, scale=scale)
    assert len(experiments) == 4 and set(outcomes) == {"acts_2019", "acts_2020", "acts_2021"}
    row = experiments.iloc[0]

    uncertainties = {n: float(row[n]) for n in example.EXPLORED}
    levers = {n: float(row[n]) for n in example.LEVERS}
    weeks = int(row["known_patient_rule_weeks"])
    levers["known_patient_rule_until"] = START_DATE + dt.timedelta(weeks=weeks)
    weekly = simulate(uncertainties=uncertainties, levers=levers, seed=1, end=end, scale=scale)
    assert outcomes["acts_2019"][0] == annual_totals(weekly, end)[2019]
