"""Weekly time axis: row k covers the seven days from 15 Sep 2018 + 7k days.

A dated event is *in force* for week k when it starts no later than the week's fourth day, i.e.
when it holds on most days of that week; a rule that ends on day D holds for week k while D falls
on or after that same fourth day. Using one convention everywhere keeps launches, rule changes and
observations aligned.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from .params import MAX_END_DATE, START_DATE, ParameterError

DAYS_PER_WEEK = 7
WEEKS_PER_YEAR = 365.25 / 7
#: Offset of the day that decides whether a dated event is in force for a week.
_DECIDING_DAY = 3


def parse_end(end: str | dt.date) -> dt.date:
    """Validate the run's end date (inclusive)."""
    if isinstance(end, str):
        try:
            end = dt.date.fromisoformat(end)
        except ValueError as exc:
            raise ParameterError(f"end: {end!r} is not a date (expected YYYY-MM-DD)") from exc
    if isinstance(end, dt.datetime):
        end = end.date()
    if not isinstance(end, dt.date):
        raise ParameterError(f"end: {end!r} is not a date (expected YYYY-MM-DD)")
    if end < START_DATE or end > MAX_END_DATE:
        raise ParameterError(
            f"end: {end.isoformat()} is outside the allowed range "
            f"[{START_DATE.isoformat()}, {MAX_END_DATE.isoformat()}]"
        )
    return end


def n_weeks_until(end: dt.date) -> int:
    """Number of weekly rows needed to cover START_DATE .. end (the last week may be partial)."""
    return (end - START_DATE).days // DAYS_PER_WEEK + 1


def week_start(k: int) -> dt.date:
    """First day of week k."""
    return START_DATE + dt.timedelta(days=DAYS_PER_WEEK * k)


def week_starts(n: int) -> np.ndarray:
    """First days of weeks 0..n-1 as datetime64[D]."""
    return np.datetime64(START_DATE, "D") + DAYS_PER_WEEK * np.arange(n)


def first_week_in_force(date: dt.date | None) -> int | None:
    """Index of the first week for which an event dated ``date`` is in force (may be <= 0)."""
    if date is None:
        return None
    days = (date - START_DATE).days - _DECIDING_DAY
    return -((-days) // DAYS_PER_WEEK)  # ceil division


def in_force(week: int, start: dt.date | None, until: dt.date | None = None) -> bool:
    """Whether something that starts on ``start`` and stops after ``until`` holds in ``week``."""
    if start is None:
        return False
    first = first_week_in_force(start)
    if week < first:
        return False
    if until is None:
        return True
    last = first_week_in_force(until + dt.timedelta(days=1))
    return week < last
