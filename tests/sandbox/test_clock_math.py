"""Calendar arithmetic of the sandbox clock: months clamp to month ends without drifting,
periods are anchored like Stripe's billing cycles."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from stripe_sandbox.clock import VirtualClock, add_months, period_containing


def _d(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(("start", "months", "expected"), [
    (_d(2024, 1, 31), 1, _d(2024, 2, 29)),
    (_d(2025, 1, 31), 1, _d(2025, 2, 28)),
    (_d(2024, 1, 31), 2, _d(2024, 3, 31)),
    (_d(2024, 11, 15), 3, _d(2025, 2, 15)),
    (_d(2024, 2, 29), 12, _d(2025, 2, 28)),
])
def test_add_months_clamps_to_the_month_end(start, months, expected):
    assert add_months(start, months) == expected


@pytest.mark.parametrize(("interval", "count", "moment", "expected"), [
    ("month", 1, _d(2024, 3, 5), (_d(2024, 2, 29), _d(2024, 3, 31))),
    ("month", 3, _d(2024, 5, 1), (_d(2024, 4, 30), _d(2024, 7, 31))),
    ("year", 1, _d(2026, 6, 1), (_d(2026, 1, 31), _d(2027, 1, 31))),
    ("week", 1, _d(2024, 2, 9), (_d(2024, 2, 7), _d(2024, 2, 14))),
])
def test_period_containing_is_anchored(interval, count, moment, expected):
    start, end = period_containing(_d(2024, 1, 31), interval, count, moment)
    assert (start, end) == expected
    assert start <= moment < end


def test_clock_needs_aware_time_and_never_goes_back():
    with pytest.raises(ValueError):
        VirtualClock(datetime(2026, 1, 1))
    clock = VirtualClock(_d(2026, 1, 1))
    with pytest.raises(ValueError):
        clock.set(_d(2025, 12, 31))
