"""The government's annual targets (500,000 acts in 2019, 1 million in 2020, 1.3 million in 2021).

They are read from ``calibration/data/observed.csv`` (rows ``kind = annual_target``), the project's
one sourced copy, so a corrected figure there changes every table of the report.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

#: The project's observed figures and targets.
OBSERVED_CSV = Path(__file__).resolve().parents[1] / "calibration" / "data" / "observed.csv"


class TargetsError(ValueError):
    """The targets file is missing or holds no usable annual target."""


def load_targets(path: str | Path = OBSERVED_CSV) -> dict[int, float]:
    """``{year: acts}`` for every ``annual_target`` row covering one whole calendar year."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise TargetsError(f"{path}: cannot read the annual targets: {exc.strerror}") from None
    targets: dict[int, float] = {}
    for row in rows:
        if row.get("kind") != "annual_target":
            continue
        try:
            start = dt.date.fromisoformat(row["period_start"])
            stop = dt.date.fromisoformat(row["period_end"])
            value = float(row["value"])
        except (KeyError, TypeError, ValueError) as exc:
            raise TargetsError(f"{path}: row {row.get('id')!r}: bad annual target: {exc}") from None
        if (start.month, start.day, stop.month, stop.day) != (1, 1, 12, 31) or start.year != (
            stop.year
        ):
            raise TargetsError(f"{path}: row {row.get('id')!r} does not cover one calendar year")
        if not value > 0:
            raise TargetsError(f"{path}: row {row.get('id')!r}: target {value} is not positive")
        targets[start.year] = value
    if not targets:
        raise TargetsError(f"{path}: no rows with kind = annual_target")
    return dict(sorted(targets.items()))


def target_label(year: int, value: float) -> str:
    """``"2019: 500,000"``, the way tables name a target."""
    return f"{year}: {value:,.0f}"
