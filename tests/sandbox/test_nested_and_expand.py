"""Nested lists are cut at 10 and paged through /v1/subscription_items; `expand` works with
the `data.` prefix on lists, up to 4 levels; price tiers appear only when expanded."""

from __future__ import annotations

import json
import urllib.request

import pytest
import stripe

from stripe_sandbox import Sandbox


def _raw(client: stripe.StripeClient, path: str, **params) -> dict:
    return json.loads(client.raw_request("get", path, **params).body)


@pytest.fixture
def big_subscription(sandbox: Sandbox) -> dict:
    product = sandbox.create_product("Modules")
    prices = [sandbox.create_price(product["id"], "usd", unit_amount=100 * (i + 1)) for i in range(13)]
    customer = sandbox.create_customer()
    return sandbox.create_subscription(customer["id"], [{"price": p["id"], "quantity": i + 1}
                                                         for i, p in enumerate(prices)])


def test_subscription_items_hold_the_first_10_and_page_on(sandbox, client, big_subscription):
    sub = _raw(client, f"/v1/subscriptions/{big_subscription['id']}")
    nested = sub["items"]
    assert len(nested["data"]) == 10 and nested["has_more"] is True
    assert nested["url"] == f"/v1/subscription_items?subscription={sub['id']}"

    rest = _raw(client, "/v1/subscription_items", subscription=sub["id"],
                starting_after=nested["data"][-1]["id"], limit=100)
    all_ids = [i["id"] for i in nested["data"]] + [i["id"] for i in rest["data"]]
    assert rest["has_more"] is False
    assert all_ids == big_subscription["items"]  # every item once, in order
    assert [i["quantity"] for i in rest["data"]] == [11, 12, 13]
    assert all("current_period_end" in i and i["price"]["object"] == "price" for i in rest["data"])


def test_subscription_items_paging_with_small_limit_and_ending_before(client, big_subscription):
    ids = big_subscription["items"]
    first = _raw(client, "/v1/subscription_items", subscription=big_subscription["id"], limit=5)
    assert [i["id"] for i in first["data"]] == ids[:5] and first["has_more"]
    back = _raw(client, "/v1/subscription_items", subscription=big_subscription["id"], limit=5,
                ending_before=ids[7])
    assert [i["id"] for i in back["data"]] == ids[2:7] and back["has_more"]


def _discounted(sandbox: Sandbox) -> dict:
    product = sandbox.create_product("Pro")
    price = sandbox.create_price(product["id"], "usd", unit_amount=5000)
    coupon = sandbox.create_coupon(percent_off=25, duration="forever")
    customer = sandbox.create_customer(email="x@y.test")
    return sandbox.create_subscription(customer["id"], [{"price": price["id"]}], coupon=coupon["id"])


def test_list_expand_with_data_prefix(sandbox, client):
    sub = _discounted(sandbox)
    plain = _raw(client, "/v1/subscriptions")["data"][0]
    assert plain["discounts"] == sub["discounts"] and isinstance(plain["customer"], str)

    page = _raw(client, "/v1/subscriptions",
                expand=["data.customer", "data.discounts.source.coupon"])
    expanded = page["data"][0]
    assert expanded["customer"]["email"] == "x@y.test"
    discount = expanded["discounts"][0]
    assert discount["object"] == "discount" and discount["source"]["type"] == "coupon"
    assert discount["source"]["coupon"]["percent_off"] == 25


def test_sdk_list_params_use_indexed_expand(sandbox, client):
    _discounted(sandbox)
    subs = client.v1.subscriptions.list({"expand": ["data.discounts"]})
    assert subs.data[0].discounts[0].source.coupon.startswith("co_")


def test_expand_brackets_style_on_retrieve(sandbox):
    sub = _discounted(sandbox)
    request = urllib.request.Request(f"{sandbox.url}/v1/subscriptions/{sub['id']}?expand[]=customer",
                                     headers={"Authorization": f"Bearer {sandbox.api_key}",
                                              "Stripe-Version": "2026-10-28.endive"})
    with urllib.request.urlopen(request) as response:
        body = json.loads(response.read())
    assert body["customer"]["object"] == "customer"


def test_list_expand_without_data_prefix_is_rejected(sandbox, client):
    _discounted(sandbox)
    with pytest.raises(stripe.InvalidRequestError) as info:
        _raw(client, "/v1/subscriptions", expand=["customer"])
    assert "data.customer" in str(info.value)


def test_expand_deeper_than_four_levels_is_rejected(sandbox, client):
    sub = _discounted(sandbox)
    with pytest.raises(stripe.InvalidRequestError):
        _raw(client, f"/v1/subscriptions/{sub['id']}", expand=["items.data.price.product.default_price"])
    ok = _raw(client, f"/v1/subscriptions/{sub['id']}", expand=["items.data.price.product"])
    assert ok["items"]["data"][0]["price"]["product"]["object"] == "product"


def test_price_tiers_only_when_expanded(sandbox, client):
    product = sandbox.create_product("Seats")
    tiers = [{"up_to": 10, "unit_amount": 1000, "flat_amount": 500}, {"up_to": None, "unit_amount": 800}]
    price = sandbox.create_price(product["id"], "usd", tiers=tiers, tiers_mode="graduated")

    assert "tiers" not in _raw(client, f"/v1/prices/{price['id']}")
    retrieved = _raw(client, f"/v1/prices/{price['id']}", expand=["tiers"])
    assert [t["up_to"] for t in retrieved["tiers"]] == [10, None]
    assert retrieved["tiers"][0]["flat_amount"] == 500
    listed = _raw(client, "/v1/prices", expand=["data.tiers"])["data"][0]
    assert listed["tiers"] == retrieved["tiers"]
    assert "tiers" not in _raw(client, "/v1/prices")["data"][0]


def test_items_carry_price_and_plan_mirror(sandbox, client):
    sub = _discounted(sandbox)
    item = _raw(client, f"/v1/subscriptions/{sub['id']}")["items"]["data"][0]
    assert item["price"]["unit_amount"] == 5000 and item["plan"]["amount"] == 5000
    assert item["current_period_end"] > item["current_period_start"]
    assert "current_period_end" not in _raw(client, f"/v1/subscriptions/{sub['id']}")
