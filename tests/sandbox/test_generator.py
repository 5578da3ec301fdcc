"""The account generator: deterministic by seed, and as varied as the contract needs
(currencies incl. jpy, intervals, pricing shapes, coupons, lifecycles, shared account ids,
multi-item subscriptions), served through the API."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import stripe

from stripe_sandbox import Sandbox, generate_account
from tests.sandbox.conftest import START


def _snapshot(sandbox: Sandbox) -> dict:
    return {name: sorted(c.objects.items()) for name, c in sandbox.store.collections.items()}


def test_same_seed_same_account_and_different_seed_differs():
    first, second, other = (Sandbox(start=START, seed=9) for _ in range(3))
    generate_account(first, customers=120, seed=4)
    generate_account(second, customers=120, seed=4)
    generate_account(other, customers=120, seed=5)
    assert _snapshot(first) == _snapshot(second)
    assert _snapshot(first) != _snapshot(other)


def test_generated_account_has_the_variety_the_worker_must_handle():
    sandbox = Sandbox(start=START, seed=1)
    summary = generate_account(sandbox, customers=600, seed=1)
    store = sandbox.store
    customers = list(store["customer"].objects.values())
    subs = list(store["subscription"].objects.values())
    prices = {p["id"]: p for p in store["price"].objects.values()}
    items = store["subscription_item"].objects

    assert summary["customers"] == len(customers) == 600 and summary["subscriptions"] == len(subs)
    assert {s["status"] for s in subs} >= {"active", "trialing", "past_due", "canceled", "unpaid", "paused"}
    assert any(s["cancel_at_period_end"] for s in subs) and any(
        s["cancel_at"] and not s["cancel_at_period_end"] for s in subs)
    assert Counter(s["currency"] for s in subs).most_common(1)[0][0] == "usd"
    assert {s["currency"] for s in subs} == {"usd", "eur", "gbp", "jpy"}
    used = [prices[items[i]["price"]] for s in subs for i in s["items"]]
    assert {(p["recurring"]["interval"], p["recurring"]["interval_count"]) for p in used} >= {
        ("month", 1), ("month", 3), ("year", 1), ("week", 1)}
    assert {p["tiers_mode"] for p in used} >= {"volume", "graduated", None}
    assert any(p["transform_quantity"] for p in used)
    assert any(t["flat_amount"] for p in used if p["tiers"] for t in p["tiers"])
    assert max(len(s["items"]) for s in subs) >= 12
    assert sum(1 for s in subs if len(s["items"]) > 1) > 10

    account_ids = Counter(c["metadata"].get("account_id") for c in customers)
    unlinked = account_ids.pop(None, 0)
    assert 0.01 < unlinked / 600 < 0.12
    assert any(n >= 2 for n in account_ids.values())
    per_customer = Counter(s["customer"] for s in subs)
    assert max(per_customer.values()) == 2

    coupons = [store.get("coupon", store.get("discount", d)["source"]["coupon"])
               for s in subs for d in s["discounts"]]
    assert {c["duration"] for c in coupons} == {"forever", "repeating", "once"}
    assert any(c["amount_off"] for c in coupons) and any(c["percent_off"] for c in coupons)
    assert all(c["currency"] in (None, s) for c, s in
               ((store.get("coupon", store.get("discount", d)["source"]["coupon"]), sub["currency"])
                for sub in subs for d in sub["discounts"]))
    assert not sandbox.events("customer.created")  # no creation events unless asked


def test_generated_account_pages_completely_over_http():
    with Sandbox(start=START, seed=2) as sandbox:
        summary = generate_account(sandbox, customers=260, seed=2)
        client = stripe.StripeClient(sandbox.api_key, base_addresses={"api": sandbox.url})
        seen, params = [], {"status": "all", "limit": 100}
        while True:
            page = json.loads(client.raw_request("get", "/v1/subscriptions", **params).body)
            seen += [s["id"] for s in page["data"]]
            if not page["has_more"]:
                break
            params["starting_after"] = page["data"][-1]["id"]
        assert len(seen) == len(set(seen)) == summary["subscriptions"]
        created = [json.loads(client.raw_request("get", f"/v1/subscriptions/{i}").body)["created"]
                   for i in seen[:3]]
        assert created == sorted(created, reverse=True)


def test_generator_can_emit_creation_events():
    sandbox = Sandbox(start=START, seed=3)
    summary = generate_account(sandbox, customers=30, seed=3, emit_events=True)
    assert len(sandbox.events("customer.created")) == 30
    assert len(sandbox.events("customer.subscription.created")) == summary["subscriptions"]


def test_a_fresh_account_has_nothing_overdue():
    """Right after generation nothing is due: periods are current, ended coupons are gone,
    trial warnings already given; only later moments produce events."""
    sandbox = Sandbox(start=START, seed=4)
    generate_account(sandbox, customers=400, seed=4)
    sandbox.advance(timedelta(seconds=5))
    assert sandbox.events() == []
    sandbox.advance(timedelta(days=2))
    assert {e["type"] for e in sandbox.events()} >= {"customer.subscription.updated"}


def _walk(client: stripe.StripeClient, path: str, **params) -> tuple[list[str], list[str]]:
    """All ids paging forward with starting_after, then backward with ending_before."""
    forward, cursor = [], {}
    while True:
        page = json.loads(client.raw_request("get", path, limit=100, **params, **cursor).body)
        forward += [o["id"] for o in page["data"]]
        if not page["has_more"]:
            break
        cursor = {"starting_after": forward[-1]}
    backward, cursor = [], {"ending_before": forward[-1]}
    while True:
        page = json.loads(client.raw_request("get", path, limit=100, **params, **cursor).body)
        backward = [o["id"] for o in page["data"]] + backward
        if not page["has_more"]:
            break
        cursor = {"ending_before": backward[0]}
    return forward, backward


def test_filtered_subscription_paging_is_exact_both_ways():
    with Sandbox(start=START, seed=6) as sandbox:
        generate_account(sandbox, customers=300, seed=6)
        client = stripe.StripeClient(sandbox.api_key, base_addresses={"api": sandbox.url})
        subs = sandbox.store["subscription"]
        newest_first = [k[2] for k in reversed(subs.keys)]
        live = [i for i in newest_first if subs.objects[i]["status"] != "canceled"]
        created = [subs.objects[i]["created"] for i in newest_first]
        assert created == sorted(created, reverse=True) and len(newest_first) == len(subs.objects)

        forward, backward = _walk(client, "/v1/subscriptions")
        assert forward == live and backward == live[:-1]
        forward_all, _ = _walk(client, "/v1/subscriptions", status="all")
        assert forward_all == newest_first and len(set(forward_all)) == len(subs.objects)


def test_generated_periods_are_consistent_with_status():
    sandbox = Sandbox(start=START, seed=10)
    generate_account(sandbox, customers=500, seed=10)
    now = int(START.timestamp())
    items = sandbox.store["subscription_item"].objects
    for sub in sandbox.store["subscription"].objects.values():
        periods = [(items[i]["current_period_start"], items[i]["current_period_end"]) for i in sub["items"]]
        assert all(start < end for start, end in periods)
        if sub["status"] == "trialing":
            assert periods[0] == (sub["trial_start"], sub["trial_end"]) and sub["trial_end"] > now
        elif sub["status"] == "canceled":
            assert sub["canceled_at"] <= sub["ended_at"] <= now
            assert periods[0][0] <= sub["ended_at"] < periods[0][1]
        else:
            assert periods[0][0] <= now < periods[0][1]
            assert sub["cancel_at"] is None or sub["cancel_at"] > now
