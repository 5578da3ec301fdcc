"""PRODUCT.md §5 renewal dates and §4 stages, as tables."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.mrr.shapes import (
    DAY,
    PERIOD_END,
    T,
    item,
    legacy_subscription,
    plan,
    price,
    subscription,
)
from worker.core.renewal import contact_renewal, subscription_renewal
from worker.core.stages import StageRules, contact_stage
from worker.rules.model import StageDef, StagesConfig


def at(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


EARLY, LATE = T + 5 * DAY, T + 20 * DAY

RENEWALS = [
    ("active: the item period end", subscription(item(price())), at(PERIOD_END)),
    ("items with different periods: the earliest",
     subscription(item(price(), end=LATE), item(price(pid="p2"), iid="si_2", end=EARLY)), at(EARLY)),
    ("trialing renews at the period (trial) end", subscription(item(price(), end=EARLY), status="trialing",
                                                               trial_end=EARLY), at(EARLY)),
    ("past_due", subscription(item(price()), status="past_due"), at(PERIOD_END)),
    ("unpaid", subscription(item(price()), status="unpaid"), at(PERIOD_END)),
    ("incomplete", subscription(item(price()), status="incomplete"), at(PERIOD_END)),
    ("canceled: none", subscription(item(price()), status="canceled"), None),
    ("incomplete_expired: none", subscription(item(price()), status="incomplete_expired"), None),
    ("paused: none", subscription(item(price()), status="paused"), None),
    ("cancel_at_period_end: none", subscription(item(price()), cancel_at_period_end=True), None),
    ("cancel_at exactly at the period end: none", subscription(item(price()), cancel_at=PERIOD_END), None),
    ("cancel_at before the period end: none", subscription(item(price()), cancel_at=PERIOD_END - DAY), None),
    ("cancel_at after the period end: renews first", subscription(item(price()), cancel_at=PERIOD_END + 40 * DAY),
     at(PERIOD_END)),
    ("cancel_at between two item period ends: after the earliest, so it renews then",
     subscription(item(price(), end=EARLY), item(price(pid="p2"), iid="si_2", end=LATE), cancel_at=EARLY + DAY),
     at(EARLY)),
    ("legacy: the subscription's own period end", legacy_subscription(plan(), period_end=LATE), at(LATE)),
    ("legacy set to cancel", legacy_subscription(plan(), cancel_at_period_end=True), None),
    ("legacy canceled", legacy_subscription(plan(), status="canceled"), None),
]


@pytest.mark.parametrize("case, sub, expected", RENEWALS, ids=[r[0] for r in RENEWALS])
def test_subscription_renewal_date(case, sub, expected):
    assert subscription_renewal(sub) == expected


def test_contact_renewal_is_the_earliest_among_its_subscriptions():
    assert contact_renewal([at(LATE), None, at(EARLY)]) == at(EARLY)
    assert contact_renewal([None, None]) is None
    assert contact_renewal([]) is None


SEED = StagesConfig(
    stages={"trial": StageDef(status=["trialing"]),
            "customer": StageDef(status=["active", "incomplete", "incomplete_expired", "past_due", "unpaid"]),
            "churn": StageDef(status=["canceled"])},
    precedence=["customer", "trial", "churn"],
)

STAGES = [
    (["active"], "customer"),
    (["past_due"], "customer"),
    (["unpaid"], "customer"),
    (["incomplete_expired"], "customer"),
    (["trialing"], "trial"),
    (["canceled"], "churn"),
    (["canceled", "trialing"], "trial"),
    (["canceled", "trialing", "active"], "customer"),
    (["canceled", "canceled"], "churn"),
    (["paused"], None),
    ([], None),
]


@pytest.mark.parametrize("statuses, expected", STAGES, ids=[",".join(s) or "none" for s, _ in STAGES])
def test_seed_stages_by_precedence(statuses, expected):
    assert contact_stage(statuses, SEED) == expected


def test_precedence_not_declaration_order_decides():
    config = StagesConfig(stages=SEED.stages, precedence=["churn", "trial", "customer"])
    assert contact_stage(["active", "canceled"], config) == "churn"
    assert contact_stage(["active", "trialing"], config) == "trial"


def test_a_status_listed_under_two_stages_takes_the_first_by_precedence():
    config = StagesConfig(stages={"a": StageDef(status=["active"]), "b": StageDef(status=["active", "past_due"])},
                          precedence=["b", "a"])
    rules = StageRules.compile(config)
    assert rules.stage(["active"]) == "b"
    assert rules.matches("active") == ["b", "a"]
    assert rules.matches("canceled") == []
