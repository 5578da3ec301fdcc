"""Virtual time for the sandbox: a settable clock and calendar interval arithmetic.

Stripe timestamps are integer Unix seconds; the sandbox keeps its clock as a tz-aware UTC
datetime and hands out `timestamp()` for objects. Billing periods are computed from an anchor
like Stripe does (no drift: Jan 31 → Feb 28 → Mar 31).
"""

from __future__ import annotations

import calendar
import threading
from datetime import UTC, datetime, timedelta


def to_ts(moment: datetime) -> int:
    return int(moment.timestamp())


def from_ts(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _month_days(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def add_months(moment: datetime, months: int) -> datetime:
    """`moment` plus whole months, the day clamped to the target month's length."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = moment.day if moment.day <= 28 else min(moment.day, _month_days(year, month))
    return moment.replace(year=year, month=month, day=day)


def add_interval(moment: datetime, interval: str, count: int) -> datetime:
    """`moment` plus `count` price intervals (day, week, month, year)."""
    if interval == "month":
        return add_months(moment, count)
    if interval == "year":
        return add_months(moment, 12 * count)
    if interval == "week":
        return moment + timedelta(weeks=count)
    if interval == "day":
        return moment + timedelta(days=count)
    raise ValueError(f"unknown interval {interval!r}")


def period_containing(anchor: datetime, interval: str, count: int, moment: datetime) -> tuple[datetime, datetime]:
    """The billing period [start, end) anchored at `anchor` that contains `moment` (≥ anchor)."""
    approx_days = {"day": 1, "week": 7, "month": 30.4, "year": 365.25}[interval] * count
    n = max(0, int((moment - anchor).days / approx_days) - 1)
    start = add_interval(anchor, interval, count * n)
    while True:
        end = add_interval(anchor, interval, count * (n + 1))
        if end > moment:
            return start, end
        start, n = end, n + 1


class VirtualClock:
    """The sandbox's 'now'. Only moves forward, and only when told to."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("the sandbox clock needs a tz-aware datetime (UTC)")
        self._now = start.astimezone(UTC).replace(microsecond=0)
        self._lock = threading.Lock()

    @property
    def now(self) -> datetime:
        return self._now

    @property
    def ts(self) -> int:
        return to_ts(self._now)

    def set(self, moment: datetime) -> None:
        with self._lock:
            if moment < self._now:
                raise ValueError("the virtual clock cannot move backwards")
            self._now = moment.astimezone(UTC)
