"""Least change on monotone toy responses (no model runs)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from experiments.least_change import (
    LEVER_PATHS,
    bracket,
    least_change_toy,
    response,
)


def test_root_of_a_monotone_toy_response():
    root = 4 / 9
    status, lo, hi, est = least_change_toy(
        lambda t: math.log((1 + 9 * t) / 5), rounds=30, xtol=1e-4
    )
    assert status == "bracket"
    assert lo < root <= hi and hi - lo <= 1e-4
    assert est == pytest.approx(root, abs=1e-4)


def test_unreachable_and_already_reached():
    assert least_change_toy(lambda t: t - 2)[0] == "unreachable"
    assert least_change_toy(lambda t: t + 1)[0] == "baseline"


def test_response_is_nonnegative_exactly_when_the_hit_share_reaches_the_level():
    rng = np.random.default_rng(0)
    for _ in range(200):
        totals = rng.uniform(0, 2, size=rng.integers(1, 12))
        for level in (0.5, 0.9):
            share = np.mean(totals >= 1.0)
            assert (response(totals, 1.0, level) >= 0) == (share >= level - 1e-12)


def test_bracket_reads_the_evaluated_points():
    assert bracket({0.0: -1, 1.0: 1, 0.5: -0.2, 0.75: 0.1}) == ("bracket", 0.5, 0.75)
    assert bracket({0.0: -1}) == ("pending", None, None)


def test_lever_paths_start_at_the_baseline_and_stay_in_range():
    from model import Levers

    for path in LEVER_PATHS:
        assert path.value(0.0) == getattr(Levers(), path.lever)
        for t in (0.01, 0.5, 1.0):
            Levers().replace(**{path.lever: path.value(t)})  # validated: in range, right type


def test_compact_table_has_one_row_per_reaching_lever_and_one_line_for_the_rest():
    import pandas as pd

    from experiments.least_change import compact

    rows = []
    for lever, status in (("a", "bracket"), ("b", "unreachable"), ("c", "baseline")):
        for year in (2019, 2020):
            for level in (0.5, 0.9):
                reached = status if (lever != "a" or year == 2020) else "unreachable"
                rows.append(
                    {
                        "lever": lever,
                        "question": f"least {lever}",
                        "year": year,
                        "level": level,
                        "status": reached,
                        "value_high": "0.5",
                        "value_estimate": "0.4",
                        "strongest_value": "1",
                        "monotone": True,
                    }
                )
    reaching, nothing = compact(pd.DataFrame(rows))
    assert list(reaching["lever"]) == ["a", "c"]
    assert [c for c in reaching.columns if "P≥" in c] == [
        "2019 P≥0.5", "2019 P≥0.9", "2020 P≥0.5", "2020 P≥0.9"
    ]  # fmt: skip
    a = reaching.set_index("lever").loc["a"]
    assert a["2019 P≥0.5"] == "–" and a["2020 P≥0.9"] == "0.5 (est. 0.4)"
    assert reaching.set_index("lever").loc["c", "2019 P≥0.5"] == "baseline hits"
    assert list(nothing["lever"]) == ["b"]
