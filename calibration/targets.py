"""The observed figures, read from ``calibration/data/observed.csv``: the project's one reader.

Each row becomes a typed :class:`Target` (:func:`load_targets`); the file's checksum goes into
``calibrated.json`` so a calibration can always be matched with the data it was fitted to. The
same rows serve everyone else: :func:`load_observed` gives the national figures as a frame to
draw beside simulated series (runs, report, page), and :func:`annual_targets` the government's
annual targets (500,000 acts in 2019, 1 million in 2020, 1.3 million in 2021), so a corrected
figure in the file changes every table and chart.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import pandas as pd

#: The committed targets file (the calibration reads this file only, never the corpus).
OBSERVED_CSV = Path(__file__).resolve().parent / "data" / "observed.csv"

#: Counts of reimbursed acts over the period (a weekly count is the average week of the period).
ACT_COUNT_KINDS = ("weekly_count", "monthly_count", "cumulative_count")
#: All count-like kinds, fitted on the log scale.
COUNT_KINDS = (*ACT_COUNT_KINDS, "patients_count", "doctors_count", "doctors_billing_weekly")
#: Shares, fitted on the natural scale (fractions).
SHARE_KINDS = (
    "share_of_acts",
    "share_of_liberal_acts",
    "share_of_patients",
    "share_of_doctors_billing_weekly",
)
KINDS = (*COUNT_KINDS, *SHARE_KINDS, "annual_target")
BOUNDS = ("point", "approx", "lower")
#: The two calibration windows: the first year of reimbursement (15 Sep 2018 - 15 Sep 2019), and
#: the 2020 regime (the first COVID wave and the summer/autumn level). A figure belongs to the
#: window its period ends in.
WINDOWS = {"2018-2019": dt.date(2018, 9, 15), "2020": dt.date(2020, 1, 1)}
USES = ("train", "context", "target")
#: Scopes that mean the whole country (figures drawn beside national series).
NATIONAL_SCOPES = {"", "france", "national", "fr", "all", "nan"}


@dataclass(frozen=True)
class Target:
    """One observed figure: what it measures, over which dates, and how exact it is."""

    id: str
    kind: str
    start: dt.date  # first day covered (inclusive)
    end: dt.date  # last day covered (inclusive)
    scope: str
    value: float
    bound: str  # point | approx | lower
    use: str  # train | context | target
    source: str
    note: str

    @property
    def is_count(self) -> bool:
        return self.kind in COUNT_KINDS

    @property
    def is_share(self) -> bool:
        return self.kind in SHARE_KINDS


def file_sha256(path: str | Path = OBSERVED_CSV) -> str:
    """Checksum of a file (by default the targets file, recorded with every calibration; the
    experiments record the parameter sets' file with it)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_targets(path: str | Path = OBSERVED_CSV) -> list[Target]:
    """Every row of the targets file, validated (unknown kinds, bad dates or values fail loudly)."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    required = ["id", "kind", "period_start", "period_end", "scope", "value", "bound", "use"]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}")
    if df["id"].duplicated().any():
        raise ValueError(f"{path}: duplicate id(s) {sorted(df['id'][df['id'].duplicated()])}")
    out = []
    for row in df.to_dict("records"):
        where = f"{path}: row {row['id']!r}"
        if row["kind"] not in KINDS:
            raise ValueError(f"{where}: kind {row['kind']!r} is not one of {list(KINDS)}")
        if row["bound"] not in BOUNDS:
            raise ValueError(f"{where}: bound {row['bound']!r} is not one of {list(BOUNDS)}")
        if row["use"] not in USES:
            raise ValueError(f"{where}: use {row['use']!r} is not one of {list(USES)}")
        try:
            start = dt.date.fromisoformat(row["period_start"])
            end = dt.date.fromisoformat(row["period_end"])
            value = float(row["value"])
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        if end < start:
            raise ValueError(f"{where}: period_end {end} is before period_start {start}")
        if row["kind"] in SHARE_KINDS and not 0.0 <= value <= 1.0:
            raise ValueError(f"{where}: share {value} is outside [0, 1]")
        if row["kind"] in COUNT_KINDS and value <= 0:
            raise ValueError(f"{where}: count {value} must be positive")
        out.append(
            Target(
                id=row["id"],
                kind=row["kind"],
                start=start,
                end=end,
                scope=row["scope"],
                value=value,
                bound=row["bound"],
                use=row["use"],
                source=row.get("source", ""),
                note=row.get("note", ""),
            )
        )
    return out


def window(t: Target) -> str:
    """The calibration window a figure belongs to (see :data:`WINDOWS`)."""
    return max((start, name) for name, start in WINDOWS.items() if t.end >= start)[1]


def training_targets(
    targets: list[Target],
    until: dt.date | str | None = None,
    windows: tuple[str, ...] | None = None,
) -> list[Target]:
    """The ``train`` targets, restricted to those whose period ends by ``until`` (inclusive) and,
    if given, to some windows."""
    if isinstance(until, str):
        until = dt.date.fromisoformat(until)
    if windows is not None:
        unknown = sorted(set(windows) - set(WINDOWS))
        if unknown:
            raise ValueError(f"windows: unknown {unknown}; allowed: {list(WINDOWS)}")
    return [
        t
        for t in targets
        if t.use == "train"
        and (until is None or t.end <= until)
        and (windows is None or window(t) in windows)
    ]


def last_day(targets: list[Target]) -> dt.date:
    """The last day any of these targets covers: how far a calibration run must simulate."""
    return max(t.end for t in targets)


def load_observed(path: str | Path = OBSERVED_CSV) -> pd.DataFrame:
    """The national figures and the annual targets, one row each, as a frame to draw.

    Columns: those of :class:`Target`, with ``period_start`` and ``period_end`` (Timestamps) for
    ``start`` and ``end``; rows in the file's order.
    """
    rows = [
        asdict(t)
        for t in load_targets(path)
        if t.scope.strip().lower() in NATIONAL_SCOPES or t.kind == "annual_target"
    ]
    frame = pd.DataFrame(rows, columns=[f.name for f in fields(Target)])
    frame = frame.rename(columns={"start": "period_start", "end": "period_end"})
    for column in ("period_start", "period_end"):
        frame[column] = pd.to_datetime(frame[column])
    frame["value"] = frame["value"].astype(float)
    return frame


def annual_targets(path: str | Path = OBSERVED_CSV) -> dict[int, float]:
    """``{year: acts}`` for every ``annual_target`` row; each must cover one whole calendar year."""
    targets: dict[int, float] = {}
    for t in load_targets(path):
        if t.kind != "annual_target":
            continue
        if (t.start.month, t.start.day, t.end.month, t.end.day) != (1, 1, 12, 31) or (
            t.start.year != t.end.year
        ):
            raise ValueError(f"{path}: row {t.id!r} does not cover one calendar year")
        if not t.value > 0:
            raise ValueError(f"{path}: row {t.id!r}: target {t.value} is not positive")
        targets[t.start.year] = t.value
    if not targets:
        raise ValueError(f"{path}: no rows with kind = annual_target")
    return dict(sorted(targets.items()))
