"""Events for every change with Stripe's payload rules, the Events API filters and 30-day
window, and the virtual clock's simulation (renewals, trial ends, scheduled cancellations,
dunning)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import stripe

from stripe_sandbox import Sandbox
from stripe_sandbox.clock import add_months, from_ts, to_ts


def _raw(client: stripe.StripeClient, path: str, **params) -> dict:
    return json.loads(client.raw_request("get", path, **params).body)


def _price(sandbox: Sandbox, interval: str = "month", count: int = 1) -> dict:
    product = sandbox.create_product("Plan")
    return sandbox.create_price(product["id"], "usd", unit_amount=1000, interval=interval,
                                interval_count=count)


def test_events_filter_by_created_type_and_types(sandbox, client):
    first = sandbox.create_customer()["id"]
    sandbox.advance(timedelta(hours=1))
    boundary = to_ts(sandbox.clock.now)
    second = sandbox.create_customer()["id"]
    sandbox.update_customer(second, metadata={"account_id": "a1"})

    later = _raw(client, "/v1/events", **{"created[gte]": boundary})["data"]
    assert [e["type"] for e in later] == ["customer.updated", "customer.created"]
    assert all(e["created"] >= boundary for e in later)
    earlier = _raw(client, "/v1/events", **{"created[lt]": boundary})["data"]
    assert [e["data"]["object"]["id"] for e in earlier] == [first]

    created_only = _raw(client, "/v1/events", type="customer.created")["data"]
    assert [e["data"]["object"]["id"] for e in created_only] == [second, first]
    wildcard = _raw(client, "/v1/events", type="customer.*")["data"]
    assert len(wildcard) == 3
    via_types = _raw(client, "/v1/events", types=["customer.updated"])["data"]
    assert [e["type"] for e in via_types] == ["customer.updated"]


def test_events_older_than_30_days_are_gone(sandbox, client):
    sandbox.create_customer()
    old = _raw(client, "/v1/events")["data"][0]["id"]
    sandbox.advance(timedelta(days=31))
    sandbox.create_customer()
    listed = [e["id"] for e in _raw(client, "/v1/events", limit=100)["data"]]
    assert old not in listed and len(listed) == 1
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.events.retrieve(old)
    assert info.value.http_status == 404


def test_events_paging_by_ending_before_reads_newer_events(sandbox, client):
    ids = [sandbox.create_customer()["id"] for _ in range(5)]
    events = _raw(client, "/v1/events", limit=100)["data"]
    oldest = events[-1]["id"]
    newer = _raw(client, "/v1/events", ending_before=oldest, limit=2)
    assert [e["data"]["object"]["id"] for e in newer["data"]] == [ids[2], ids[1]]
    assert newer["has_more"] is True


def test_same_second_events_share_created(sandbox, client):
    customer = sandbox.create_customer()["id"]
    sandbox.update_customer(customer, metadata={"k": "1"})
    sandbox.update_customer(customer, metadata={"k": "2"})
    events = _raw(client, "/v1/events")["data"]
    assert len({e["created"] for e in events}) == 1
    assert [e["data"]["object"]["metadata"].get("k") for e in events] == ["2", "1", None]


def test_advance_renews_item_periods_by_price_interval(sandbox):
    monthly, quarterly = _price(sandbox), _price(sandbox, "month", 3)
    customer = sandbox.create_customer()["id"]
    sub = sandbox.create_subscription(customer, [{"price": monthly["id"]}])
    q_sub = sandbox.create_subscription(customer, [{"price": quarterly["id"]}])
    start = sandbox.clock.now

    sandbox.advance(timedelta(days=65))

    item = sandbox.retrieve("subscription", sub["id"])["items"]["data"][0]
    assert from_ts(item["current_period_start"]) == add_months(start, 2)
    assert from_ts(item["current_period_end"]) == add_months(start, 3)
    q_item = sandbox.retrieve("subscription", q_sub["id"])["items"]["data"][0]
    assert from_ts(q_item["current_period_end"]) == add_months(start, 3)
    renewals = [e for e in sandbox.events("customer.subscription.updated")
                if e["data"]["object"]["id"] == sub["id"]]
    assert [e["created"] for e in renewals] == [to_ts(add_months(start, 1)), to_ts(add_months(start, 2))]
    previous = renewals[0]["data"]["previous_attributes"]["items"]["data"][0]
    assert previous["current_period_end"] == to_ts(add_months(start, 1))


@pytest.mark.parametrize("behavior", ["active", "past_due", "paused"])
def test_trial_end_moves_status_and_warns_three_days_ahead(sandbox, behavior):
    price = _price(sandbox)
    customer = sandbox.create_customer()["id"]
    trial_end = sandbox.clock.now + timedelta(days=7)
    sub = sandbox.create_subscription(customer, [{"price": price["id"]}], trial_end=trial_end,
                                      trial_end_behavior=behavior)
    assert sub["status"] == "trialing"

    sandbox.advance(timedelta(days=5))
    warnings = sandbox.events("customer.subscription.trial_will_end")
    assert [e["created"] for e in warnings] == [to_ts(trial_end - timedelta(days=3))]
    assert sandbox.retrieve("subscription", sub["id"])["status"] == "trialing"

    sandbox.advance(timedelta(days=3))
    after = sandbox.retrieve("subscription", sub["id"])
    assert after["status"] == behavior
    assert after["items"]["data"][0]["current_period_start"] == to_ts(trial_end)
    update = sandbox.events("customer.subscription.updated")[-1]
    assert update["data"]["previous_attributes"]["status"] == "trialing"
    assert update["created"] == to_ts(trial_end)


def test_cancel_at_period_end_cancels_when_the_period_ends(sandbox):
    price = _price(sandbox)
    customer = sandbox.create_customer()["id"]
    sub = sandbox.create_subscription(customer, [{"price": price["id"]}])
    period_end = sandbox.retrieve("subscription", sub["id"])["items"]["data"][0]["current_period_end"]
    sandbox.advance(timedelta(days=3))
    sandbox.update_subscription(sub["id"], cancel_at_period_end=True)
    scheduled = sandbox.retrieve("subscription", sub["id"])
    assert scheduled["cancel_at"] == period_end and scheduled["status"] == "active"
    assert sandbox.events()[-1]["data"]["previous_attributes"]["cancel_at_period_end"] is False

    sandbox.advance(timedelta(days=40))
    ended = sandbox.retrieve("subscription", sub["id"])
    assert ended["status"] == "canceled" and ended["ended_at"] == period_end
    deleted = sandbox.events("customer.subscription.deleted")
    assert [e["created"] for e in deleted] == [period_end]
    assert not [e for e in sandbox.events("customer.subscription.updated") if e["created"] >= period_end]


def test_unscheduling_a_cancellation_keeps_the_subscription(sandbox):
    price = _price(sandbox)
    sub = sandbox.create_subscription(sandbox.create_customer()["id"], [{"price": price["id"]}],
                                      cancel_at=sandbox.clock.now + timedelta(days=10))
    sandbox.update_subscription(sub["id"], cancel_at=None)
    sandbox.advance(timedelta(days=20))
    assert sandbox.retrieve("subscription", sub["id"])["status"] == "active"


@pytest.mark.parametrize("outcome", ["unpaid", "canceled"])
def test_past_due_turns_unpaid_or_canceled_after_the_dunning_days(sandbox, outcome):
    price = _price(sandbox)
    sub = sandbox.create_subscription(sandbox.create_customer()["id"], [{"price": price["id"]}],
                                      past_due_days=5, past_due_outcome=outcome)
    sandbox.fail_payment(sub["id"])
    assert sandbox.retrieve("subscription", sub["id"])["status"] == "past_due"
    sandbox.advance(timedelta(days=4))
    assert sandbox.retrieve("subscription", sub["id"])["status"] == "past_due"
    sandbox.advance(timedelta(days=2))
    assert sandbox.retrieve("subscription", sub["id"])["status"] == outcome


def test_payment_succeeded_stops_dunning(sandbox):
    price = _price(sandbox)
    sub = sandbox.create_subscription(sandbox.create_customer()["id"], [{"price": price["id"]}],
                                      past_due_days=5)
    sandbox.fail_payment(sub["id"])
    sandbox.pay(sub["id"])
    sandbox.advance(timedelta(days=10))
    assert sandbox.retrieve("subscription", sub["id"])["status"] == "active"
    updates = sandbox.events("customer.subscription.updated")
    statuses = [e["data"]["previous_attributes"].get("status") for e in updates]
    assert statuses[:2] == ["active", "past_due"]


def test_quantity_and_price_changes_emit_previous_items(sandbox):
    small, large = _price(sandbox), _price(sandbox)
    customer = sandbox.create_customer()["id"]
    sub = sandbox.create_subscription(customer, [{"price": small["id"], "quantity": 2}])
    item_id = sub["items"][0]
    sandbox.update_subscription(sub["id"], items=[{"id": item_id, "quantity": 5}])
    sandbox.update_subscription(sub["id"], items=[{"id": item_id, "price": large["id"]}])
    quantity_event, price_event = sandbox.events("customer.subscription.updated")
    assert quantity_event["data"]["previous_attributes"]["items"]["data"][0]["quantity"] == 2
    assert quantity_event["data"]["object"]["items"]["data"][0]["quantity"] == 5
    assert price_event["data"]["previous_attributes"]["items"]["data"][0]["price"]["id"] == small["id"]
    assert price_event["data"]["object"]["items"]["data"][0]["price"]["id"] == large["id"]


def test_legacy_event_shape_puts_periods_on_the_subscription(sandbox, client):
    product = sandbox.create_product("Pro")
    price = sandbox.create_price(product["id"], "usd", unit_amount=900)
    coupon = sandbox.create_coupon(amount_off=100, currency="usd")
    sandbox.event_api_version = "2024-06-20"
    sub = sandbox.create_subscription(sandbox.create_customer()["id"], [{"price": price["id"]}],
                                      coupon=coupon["id"])
    event = _raw(client, "/v1/events", type="customer.subscription.created")["data"][0]
    payload = event["data"]["object"]
    assert event["api_version"] == "2024-06-20"
    assert "current_period_end" in payload and "current_period_end" not in payload["items"]["data"][0]
    assert payload["discount"]["coupon"]["amount_off"] == 100
    assert payload["plan"]["id"] == price["id"]
    current = _raw(client, f"/v1/subscriptions/{sub['id']}")  # the API itself stays current
    assert "current_period_end" not in current and "discount" not in current


def test_malformed_object_is_served_verbatim(sandbox, client):
    price = _price(sandbox)
    sub = sandbox.create_subscription(sandbox.create_customer()["id"], [{"price": price["id"]}])
    sandbox.inject_malformed(sub["id"], items="garbage", created="yesterday")
    served = _raw(client, f"/v1/subscriptions/{sub['id']}")
    assert served["items"] == "garbage" and served["created"] == "yesterday"
    listed = _raw(client, "/v1/subscriptions", status="all")["data"][0]
    assert listed["items"] == "garbage"
    assert sandbox.events()[-1]["data"]["object"]["items"] == "garbage"
    sandbox.clear_malformed(sub["id"])
    assert isinstance(_raw(client, f"/v1/subscriptions/{sub['id']}")["items"], dict)


def test_repeating_coupon_discount_is_removed_when_it_ends(sandbox):
    price = _price(sandbox)
    coupon = sandbox.create_coupon(percent_off=20, duration="repeating", duration_in_months=2)
    sub = sandbox.create_subscription(sandbox.create_customer()["id"], [{"price": price["id"]}],
                                      coupon=coupon["id"])
    discount_id = sub["discounts"][0]
    end = sandbox.store.get("discount", discount_id)["end"]
    assert end == to_ts(add_months(sandbox.clock.now, 2))
    sandbox.advance(timedelta(days=45))
    assert sandbox.retrieve("subscription", sub["id"])["discounts"] == [discount_id]
    sandbox.advance(timedelta(days=30))
    assert sandbox.retrieve("subscription", sub["id"])["discounts"] == []
    removal = [e for e in sandbox.events("customer.subscription.updated")
               if "discounts" in e["data"]["previous_attributes"]]
    assert [e["created"] for e in removal] == [end]


def test_previous_attributes_of_hashes_hold_only_changed_keys(sandbox):
    customer = sandbox.create_customer(metadata={"account_id": "acme", "segment": "smb"})["id"]
    sandbox.update_customer(customer, metadata={"segment": "enterprise", "tier": "gold"})
    previous = sandbox.events("customer.updated")[-1]["data"]["previous_attributes"]
    assert previous == {"metadata": {"segment": "smb", "tier": None}}


def test_requests_pinned_to_an_old_version_get_the_legacy_shape(sandbox):
    price = _price(sandbox)
    sub = sandbox.create_subscription(sandbox.create_customer()["id"], [{"price": price["id"]}])
    old = stripe.StripeClient(sandbox.api_key, base_addresses={"api": sandbox.url},
                              stripe_version="2024-06-20")
    legacy = json.loads(old.raw_request("get", f"/v1/subscriptions/{sub['id']}").body)
    listed = json.loads(old.raw_request("get", "/v1/subscriptions").body)["data"][0]
    item_end = sandbox.retrieve("subscription", sub["id"])["items"]["data"][0]["current_period_end"]
    assert legacy["current_period_end"] == listed["current_period_end"] == item_end
    assert "current_period_end" not in legacy["items"]["data"][0]
