"""Reading Stripe objects (pure): both subscription shapes, quarantine reasons, event targets,
and when a reconcile is due."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from worker.sync import shapes
from worker.sync.incremental import event_target
from worker.sync.state import SyncStatus, needs_reconcile

#: Current shapes from Stripe's public OpenAPI fixtures (MIT; source noted in the file).
FIXTURES = json.loads((Path(__file__).parent / "fixtures" / "openapi-fixtures.json").read_text())["resources"]
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _current_subscription() -> dict:
    sub = copy.deepcopy(FIXTURES["subscription"])
    item = sub["items"]["data"][0]
    second = {**copy.deepcopy(item), "id": "si_second", "current_period_end": item["current_period_end"] - 100}
    sub["items"]["data"].append(second)
    return sub


def test_a_current_shape_subscription_takes_its_period_end_from_the_earliest_item():
    sub = _current_subscription()
    shapes.check_subscription(sub)
    row = shapes.subscription_row(sub)
    assert row["api_shape"] == "current"
    assert row["current_period_end"] == shapes.ts(sub["items"]["data"][1]["current_period_end"])
    items = shapes.item_rows(sub)
    assert [i["id"] for i in items] == [sub["items"]["data"][0]["id"], "si_second"]
    assert items[0]["price_id"] == "price_1PgafmB7WZ01zgkW6dKueIc5"
    assert items[0]["current_period_end"] == shapes.ts(sub["items"]["data"][0]["current_period_end"])


def test_a_legacy_subscription_keeps_its_own_period_and_plan():
    legacy = {"id": "sub_1", "object": "subscription", "customer": "cus_1", "status": "active",
              "current_period_start": 1_790_000_000, "current_period_end": 1_792_592_000,
              "cancel_at_period_end": False, "discount": {"coupon": {"id": "c", "percent_off": 10}},
              "plan": {"id": "pro", "currency": "eur", "amount": 1500},
              "items": {"data": [{"id": "si_1", "plan": {"id": "pro", "currency": "eur"}, "quantity": 2}]}}
    shapes.check_subscription(legacy)
    row = shapes.subscription_row(legacy)
    assert (row["api_shape"], row["currency"]) == ("legacy", "eur")
    assert row["current_period_end"] == shapes.ts(1_792_592_000)
    assert shapes.item_rows(legacy)[0]["current_period_end"] == shapes.ts(1_792_592_000)
    assert shapes.item_rows(legacy)[0]["price_id"] == "pro"


@pytest.mark.parametrize("break_it, reason", [
    (lambda s: s.update(status="sleeping"), "unknown status"),
    (lambda s: s.update(items="garbage"), "no `items` list"),
    (lambda s: s.update(created="yesterday"), "not a Unix timestamp"),
    (lambda s: s["items"]["data"][0].update(price=None, plan=None), "has no price"),
    (lambda s: s["items"]["data"][0].update(quantity=-1), "invalid quantity"),
    (lambda s: s.update(customer=None), "has no customer"),
    (lambda s: s["items"]["data"][0]["price"].update(billing_scheme="tiered", tiers=[]), "has no tiers"),
])
def test_malformed_subscriptions_are_refused_with_a_reason(break_it, reason):
    sub = _current_subscription()
    break_it(sub)
    with pytest.raises(shapes.Malformed, match=reason):
        shapes.check_subscription(sub)


def test_customers_and_deleted_customers_are_read():
    shapes.check_customer(FIXTURES["customer"])
    shapes.check_customer({"id": "cus_1", "object": "customer", "deleted": True})
    with pytest.raises(shapes.Malformed, match="non-string"):
        shapes.check_customer({"id": "cus_1", "metadata": {"n": 1}})


def test_a_discount_coupon_is_found_and_replaced_in_either_shape():
    clover = {"id": "di_1", "source": {"coupon": "co_1", "type": "coupon"}}
    older = {"id": "di_2", "coupon": "co_2"}
    assert shapes.discount_coupon(clover) == "co_1" and shapes.discount_coupon(older) == "co_2"
    assert shapes.with_coupon(clover, {"id": "co_1"})["source"] == {"coupon": {"id": "co_1"}, "type": "coupon"}
    assert shapes.with_coupon(older, {"id": "co_2"})["coupon"] == {"id": "co_2"}


@pytest.mark.parametrize("event, target", [
    ({"type": "customer.subscription.updated", "data": {"object": {"id": "sub_1"}}}, ("subscription", "sub_1")),
    ({"type": "customer.subscription.deleted", "data": {"object": {"id": "sub_1"}}}, ("subscription", "sub_1")),
    ({"type": "customer.deleted", "data": {"object": {"id": "cus_1"}}}, ("customer", "cus_1")),
    ({"type": "customer.discount.created", "data": {"object": {"subscription": "sub_2", "customer": "cus_2"}}},
     ("subscription", "sub_2")),
    ({"type": "customer.discount.deleted", "data": {"object": {"subscription": None, "customer": "cus_2"}}},
     ("customer", "cus_2")),
    ({"type": "price.updated", "data": {"object": {"id": "price_1"}}}, ("price", "price_1")),
    ({"type": "plan.updated", "data": {"object": {"id": "gold"}}}, ("price", "gold")),
    ({"type": "product.updated", "data": {"object": {"id": "prod_1"}}}, ("product", "prod_1")),
    ({"type": "invoice.paid", "data": {"object": {"id": "in_1"}}}, None),
    ({"type": "customer.subscription.updated", "data": {"object": {}}}, None),
    ({"type": "customer.subscription.updated"}, None),
])
def test_events_name_the_object_to_refetch(event, target):
    assert event_target(event) == target


DAY = timedelta(days=1)


@pytest.mark.parametrize("status, reason", [
    (SyncStatus(cursor_created=None, last_full_at=None, backfill_in_progress=False), "no full sync"),
    (SyncStatus(cursor_created=NOW, last_full_at=NOW, backfill_in_progress=True), "interrupted"),
    (SyncStatus(cursor_created=NOW - 31 * DAY, last_full_at=NOW - 0.5 * DAY, backfill_in_progress=False), "30-day"),
    (SyncStatus(cursor_created=NOW - timedelta(minutes=1), last_full_at=NOW - DAY, backfill_in_progress=False),
     "daily reconcile"),
    (SyncStatus(cursor_created=NOW - timedelta(minutes=1), last_full_at=NOW - 0.9 * DAY,
                backfill_in_progress=False), None),
])
def test_needs_reconcile(status, reason):
    got = needs_reconcile(status, NOW)
    assert (got is None) if reason is None else (reason in got)
