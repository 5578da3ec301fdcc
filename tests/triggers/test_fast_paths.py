"""The trigger hot path's shortcuts build exactly what the general code builds."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from worker.core.occurrences import Occurrence, occurrence_from
from worker.core.snapshot import iso
from worker.core.triggers import _horizon_seconds, _iso


def test_occurrence_from_equals_the_dataclass_constructor():
    values = {"trigger": "renewal_due", "contact_id": "c1", "key": "k", "subscription_id": "s",
              "stage": "customer", "mrr": Decimal("1.50"), "plans": ("pro",), "metadata": {"segment": "smb"},
              "due_at": datetime(2026, 12, 1, tzinfo=UTC), "seconds_until": 5}
    fast, slow = occurrence_from(values), Occurrence(**values)
    assert fast == slow and repr(fast) == repr(slow)
    assert all(getattr(fast, f.name) == getattr(slow, f.name) for f in fields(Occurrence))
    with pytest.raises(AttributeError):
        fast.stage = "churn"  # still frozen
    with pytest.raises(TypeError):
        occurrence_from({**values, "unknown": 1})


@pytest.mark.parametrize("value", [
    datetime(2026, 11, 1, 12, 0, 5, 123456, tzinfo=UTC),
    datetime(2026, 11, 1, 23, 59, 59, tzinfo=timezone(timedelta(hours=-5))),
    datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC),
    datetime(2026, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=14))),
    None,
])
def test_fast_iso_is_snapshot_iso(value):
    assert _iso(value) == iso(value)


@pytest.mark.parametrize("horizon", [timedelta(days=3), timedelta(seconds=10, microseconds=1),
                                     timedelta(seconds=10, microseconds=999_999), timedelta(0)])
def test_horizon_seconds_compare_like_timedeltas(horizon):
    floor, ceil = _horizon_seconds(horizon)
    for seconds in range(12):
        span = timedelta(seconds=seconds)
        assert (seconds <= floor) == (span <= horizon)
        assert (seconds >= ceil) == (span >= horizon)
    days = 3 * 86_400
    assert (days <= floor) == (timedelta(seconds=days) <= horizon)
