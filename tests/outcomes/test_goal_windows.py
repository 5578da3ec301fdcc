"""Goal windows and the renewal target (pure core), as tables."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from worker.core.outcomes import Goal, renewal_target, window_end

FIRED = datetime(2026, 3, 1, tzinfo=timezone.utc)
RENEWS = datetime(2026, 3, 20, tzinfo=timezone.utc)
DAY = timedelta(days=1)


@pytest.mark.parametrize(("goal", "reference", "expected"), [
    ({"kind": "renewal", "grace_s": 3 * 86400}, RENEWS, RENEWS + 3 * DAY),
    ({"kind": "renewal", "grace_s": 0}, RENEWS, RENEWS),
    ({"kind": "renewal", "grace_s": 3 * 86400}, None, None),  # nothing to renew past
    ({"kind": "retention", "within_s": 90 * 86400}, None, FIRED + 90 * DAY),
    ({"kind": "expansion", "within_s": 30 * 86400}, RENEWS, FIRED + 30 * DAY),  # renewal date ignored
    ({"kind": "conversion", "within_s": 14 * 86400, "to": "paid"}, None, FIRED + 14 * DAY),
])
def test_window_end_by_goal_kind(goal, reference, expected):
    assert window_end(Goal.from_json(goal), FIRED, reference) == expected


def test_conversion_goal_defaults_to_customer():
    assert Goal.from_json({"kind": "conversion", "within_s": 1}).to == "customer"


def _firing(subscription_id, renewal, subscriptions):
    return {"subscription_id": subscription_id, "renewal_date": renewal, "fired_at": FIRED,
            "snapshot": {"contact": {"subscriptions": subscriptions}}}


@pytest.mark.parametrize(("firing", "expected"), [
    # the subscription whose renewal date is the contact's (the earliest)
    (_firing(None, RENEWS, [{"id": "sub_b", "renewal_date": "2026-04-01T00:00:00Z"},
                            {"id": "sub_a", "renewal_date": "2026-03-20T00:00:00Z"}]), ("sub_a", RENEWS)),
    # two subscriptions set the same date: the smallest id, deterministically
    (_firing(None, RENEWS, [{"id": "sub_z", "renewal_date": "2026-03-20T00:00:00Z"},
                            {"id": "sub_m", "renewal_date": "2026-03-20T00:00:00Z"}]), ("sub_m", RENEWS)),
    # the trigger's own subscription wins (e.g. cancellation_scheduled): no renewal date of its own
    (_firing("sub_c", RENEWS, [{"id": "sub_c", "renewal_date": None},
                               {"id": "sub_a", "renewal_date": "2026-03-20T00:00:00Z"}]), ("sub_c", None)),
    (_firing(None, None, []), (None, None)),
])
def test_renewal_target(firing, expected):
    assert renewal_target(firing) == expected
