"""Outcome computations on synthetic frames (no model runs)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from experiments import outcomes
from experiments.outcomes import (
    annual_split,
    annual_totals,
    daily_acts,
    hit_probability,
    paired_differences,
)


def test_a_week_straddling_new_year_is_split_by_days():
    # Sat 29 Dec 2018 .. Fri 4 Jan 2019: 3 days in 2018, 4 in 2019
    starts = pd.to_datetime(["2018-12-22", "2018-12-29", "2019-01-05"])
    totals = annual_split(starts, [70.0, 7.0, 14.0])
    assert totals == pytest.approx({2018: 70.0 + 3.0, 2019: 4.0 + 14.0})


def test_days_after_the_end_are_dropped():
    starts = pd.to_datetime(["2019-12-28"])  # 28 Dec .. 3 Jan
    assert annual_split(starts, [7.0], end="2019-12-31") == pytest.approx({2019: 4.0})
    assert annual_split(starts, [7.0], end="2020-01-01") == pytest.approx({2019: 4.0, 2020: 1.0})


def test_summary_of_a_synthetic_weekly_frame():
    starts = pd.date_range("2018-09-15", periods=172, freq="7D")  # to 31 Dec 2021
    weekly = pd.DataFrame({"week_start": starts, "acts": 7.0})
    for kind in outcomes.DOCTOR_TYPES:
        weekly[f"acts_{kind}"] = 7.0 / 4
    weekly["adopting_doctors"] = np.arange(172, dtype=float)
    row = outcomes.summarise_weekly(weekly, "2021-12-31")
    assert row["acts_2019"] == pytest.approx(365.0)
    assert row["acts_2020"] == pytest.approx(366.0)  # leap year
    assert row["acts_2021"] == pytest.approx(365.0)
    assert row["acts_specialist_2020"] == pytest.approx(366.0 / 4)
    # the stock at year end is the value of the last week starting in that year
    assert row["adopting_doctors_end_2019"] == float(np.flatnonzero(starts.year == 2019)[-1])
    # a run ending mid-2020 reports no 2020 or 2021 total
    short = outcomes.summarise_weekly(weekly[starts <= "2020-06-30"], "2020-06-30")
    assert "acts_2020" not in short and "acts_2019" in short


def test_hit_probability_and_its_interval():
    h = hit_probability([1, 2, 3, 4], target=2.5)
    assert (h["n"], h["hits"], h["p"]) == (4, 2, 0.5)
    assert 0 < h["p_low"] < 0.5 < h["p_high"] < 1
    assert hit_probability([1, 1], target=5)["p_low"] == 0.0
    assert hit_probability([9, 9], target=5)["p_high"] == 1.0


def test_paired_differences_use_the_same_replicate():
    summary = pd.DataFrame(
        {
            "label": ["baseline"] * 3 + ["x"] * 3,
            "param_id": ["a", "b", "c"] * 2,
            "seed": [1, 2, 3] * 2,
            "acts_2019": [100.0, 200.0, 300.0, 110.0, 220.0, 330.0],
        }
    )
    d = paired_differences(summary).set_index("label")
    assert d.loc["x", "mean"] == pytest.approx(20.0)
    assert d.loc["x", "ratio_mean"] == pytest.approx(1.1)
    assert d.loc["x", "low"] == pytest.approx(11.0)  # 5% quantile of (10, 20, 30)
    assert d.loc["baseline", "mean"] == 0.0


def test_annual_totals_split_weeks_pro_rata():
    weekly = pd.DataFrame(
        {"week_start": pd.to_datetime(["2019-12-28", "2020-01-04"]), "acts": [70.0, 7.0]}
    )
    totals = annual_totals(weekly, dt.date(2020, 1, 10))
    assert totals == {2019: 40.0, 2020: 37.0}
    daily = daily_acts(weekly, dt.date(2020, 1, 10))
    assert len(daily) == 14 and daily.index[-1] == pd.Timestamp("2020-01-10")
    assert daily.sum() == pytest.approx(77.0)
