"""The fit's headline share figures: a lower-bound share is off only when the model falls short."""

from __future__ import annotations

import numpy as np
import pandas as pd

from calibration.report import metrics


def _table(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    """Fitted 2020 share figures: (id, bound, simulated - observed)."""
    return pd.DataFrame(
        [
            {
                "target": tid,
                "window": "2020",
                "kind": "share_of_acts",
                "bound": bound,
                "fitted": True,
                "error": err,
                "bass_error": np.nan,
                "relative_error": np.nan,
                "lower_bound_met": (err >= 0) if bound == "lower" else np.nan,
            }
            for tid, bound, err in rows
        ]
    )


def test_a_lower_bound_exceeded_is_not_an_error_and_a_shortfall_is():
    above = metrics(_table([("a", "approx", 0.03), ("b", "lower", 0.08)]))
    assert above["shares_within_5pp"] and round(above["shares_max_abs_error_pp"], 6) == 3.0
    assert above["share_errors_pp"]["b"] == 8.0  # the raw difference is still reported
    short = metrics(_table([("a", "approx", 0.03), ("b", "lower", -0.06)]))
    assert not short["shares_within_5pp"] and round(short["shares_max_abs_error_pp"], 6) == 6.0
    two_sided = metrics(_table([("a", "approx", -0.051)]))
    assert not two_sided["shares_within_5pp"]
