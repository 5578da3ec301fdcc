"""Time-based triggers and cancellations: read from the new snapshot and `now`."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from tests.triggers.builders import DAY, NOW, USD, contact, sub
from worker.core.triggers import horizons_for, occurrences

HOUR = timedelta(hours=1)


def fired(prev, new, settings=USD, now=NOW, baseline=False, trigger=None):
    found = occurrences(prev, new, now, settings, baseline=baseline)
    return [o for o in found if trigger is None or o.trigger == trigger]


@pytest.mark.parametrize(
    ("renewal_in", "horizons", "expected_seconds"),
    [
        (10 * DAY, None, 10 * 86400),  # no pre-filter: every future renewal
        (10 * DAY, {"renewal_due": 30 * DAY}, 10 * 86400),
        (30 * DAY, {"renewal_due": 30 * DAY}, 30 * 86400),  # the window's edge is inside
        (30 * DAY + timedelta(seconds=1), {"renewal_due": 30 * DAY}, None),
        (timedelta(0), None, 0),  # renewing right now
        (-timedelta(seconds=1), None, None),  # already past
        (10 * DAY, {"trial_ending": 30 * DAY}, None),  # no renewal_due automation at all
        (timedelta(seconds=10, microseconds=500), None, 10),  # floored to whole seconds
    ],
)
def test_renewal_due_fires_when_the_renewal_date_is_inside_the_horizon(renewal_in, horizons,
                                                                       expected_seconds):
    settings = replace(USD, horizons=horizons)
    new = contact("customer", sub(renewal=NOW + renewal_in))
    found = fired(new, new, settings, trigger="renewal_due")
    if expected_seconds is None:
        assert found == []
    else:
        [occ] = found
        assert occ.seconds_until == expected_seconds
        assert occ.key == f"renewal_due:c1:{(NOW + renewal_in).strftime('%Y-%m-%dT%H:%M:%SZ')}"
        assert occ.subscription_id == "sub_1" and occ.due_at == NOW + renewal_in


def test_renewal_due_names_the_subscription_that_sets_the_contact_renewal_date():
    new = contact("customer", sub("sub_a", renewal=NOW + 9 * DAY), sub("sub_b", renewal=NOW + 3 * DAY))
    [occ] = fired(None, new, trigger="renewal_due")
    assert occ.subscription_id == "sub_b" and occ.seconds_until == 3 * 86400


@pytest.mark.parametrize(
    ("status", "trial_in", "horizon", "fires"),
    [
        ("trialing", 2 * DAY, 3 * DAY, True),
        ("trialing", 4 * DAY, 3 * DAY, False),
        ("trialing", -HOUR, 3 * DAY, False),  # trial already ended
        ("active", 2 * DAY, 3 * DAY, False),  # converted early: no longer a trial
    ],
)
def test_trial_ending_is_per_subscription_and_trial_end(status, trial_in, horizon, fires):
    settings = replace(USD, horizons={"trial_ending": horizon})
    new = contact("trial", sub("sub_t", status, trial_end=NOW + trial_in, plans=("pro",)))
    found = fired(new, new, settings, trigger="trial_ending")
    assert bool(found) is fires
    if fires:
        assert found[0].key == f"trial_ending:sub_t:{(NOW + trial_in).strftime('%Y-%m-%dT%H:%M:%SZ')}"
        assert found[0].seconds_until == int(trial_in.total_seconds())
        assert found[0].plans == ("pro",)


@pytest.mark.parametrize(
    ("status", "since_ago", "horizon", "fires"),
    [
        ("past_due", 5 * DAY, 3 * DAY, True),
        ("past_due", 3 * DAY, 3 * DAY, True),  # "for at least": the edge counts
        ("past_due", 1 * DAY, 3 * DAY, False),
        ("unpaid", 5 * DAY, 3 * DAY, False),  # past_due_for reads the past_due status only
        ("past_due", None, 3 * DAY, False),  # no episode start known: cannot tell how long
    ],
)
def test_past_due_for_counts_from_the_episode_start(status, since_ago, horizon, fires):
    settings = replace(USD, horizons={"past_due_for": horizon})
    since = None if since_ago is None else NOW - since_ago
    new = contact("customer", sub("sub_p", status, status_since=since))
    found = fired(new, new, settings, trigger="past_due_for")
    assert bool(found) is fires
    if fires:
        assert found[0].seconds_since == int(since_ago.total_seconds())
        assert found[0].since == since
        assert found[0].key == f"past_due_for:sub_p:{since.strftime('%Y-%m-%dT%H:%M:%SZ')}"


def test_horizons_take_the_longest_forward_window_and_the_shortest_past_due_window():
    class A:  # the two attributes horizons_for reads
        def __init__(self, on, within):
            self.on, self.within = on, within

    autos = [A("renewal_due", 30 * DAY), A("renewal_due", 7 * DAY), A("past_due_for", 3 * DAY),
             A("past_due_for", 1 * DAY), A("trial_ending", 3 * DAY), A("stage_changed", None)]
    assert horizons_for(autos) == {"renewal_due": 30 * DAY, "past_due_for": 1 * DAY,
                                   "trial_ending": 3 * DAY}


PERIOD_END = NOW + 20 * DAY


@pytest.mark.parametrize(
    ("before", "after", "expected_key"),
    [
        ({}, {"cancel_at_period_end": True}, f"cancellation_scheduled:sub_1:{PERIOD_END:%Y-%m-%dT%H:%M:%SZ}"),
        ({}, {"cancel_at": NOW + 5 * DAY}, f"cancellation_scheduled:sub_1:{NOW + 5 * DAY:%Y-%m-%dT%H:%M:%SZ}"),
        ({"cancel_at_period_end": True}, {"cancel_at_period_end": True}, None),  # unchanged
        ({"cancel_at": NOW + 5 * DAY}, {"cancel_at": NOW + 6 * DAY},
         f"cancellation_scheduled:sub_1:{NOW + 6 * DAY:%Y-%m-%dT%H:%M:%SZ}"),  # moved: new date
        ({}, {"cancel_at": NOW - DAY}, None),  # a date already past is not "scheduled"
    ],
)
def test_cancellation_scheduled_is_per_subscription_and_date(before, after, expected_key):
    prev = contact("customer", sub(**before))
    new = contact("customer", sub(**after))
    found = fired(prev, new, trigger="cancellation_scheduled")
    assert [o.key for o in found] == ([] if expected_key is None else [expected_key])


def test_cancellation_unscheduled_fires_when_undone_but_not_when_executed():
    scheduled = contact("customer", sub(cancel_at_period_end=True))
    undone = contact("customer", sub())
    executed = contact("churn", sub(status="canceled"))
    [occ] = fired(scheduled, undone, trigger="cancellation_unscheduled")
    assert occ.key.startswith(f"cancellation_unscheduled:sub_1:{PERIOD_END:%Y-%m-%dT%H:%M:%SZ}@")
    assert occ.due_at == PERIOD_END
    assert fired(scheduled, executed, trigger="cancellation_unscheduled") == []
    assert [o.trigger for o in fired(scheduled, executed) if o.subscription_id] == ["canceled"]
