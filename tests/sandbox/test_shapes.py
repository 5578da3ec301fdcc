"""Objects served by the sandbox carry exactly the top-level fields of Stripe's current
shapes (field lists taken from Stripe's OpenAPI fixtures, see fixtures/stripe_fields.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import stripe

from stripe_sandbox import Sandbox, generate_account
from tests.sandbox.conftest import START

FIELDS = json.loads((Path(__file__).parent / "fixtures" / "stripe_fields.json").read_text())


@pytest.fixture(scope="module")
def served() -> dict[str, dict]:
    with Sandbox(start=START, seed=12) as sandbox:
        generate_account(sandbox, customers=80, seed=12)
        client = stripe.StripeClient(sandbox.api_key, base_addresses={"api": sandbox.url})

        def get(path: str, **params) -> dict:
            return json.loads(client.raw_request("get", path, **params).body)

        sub = get("/v1/subscriptions", status="all", limit=100, expand=["data.discounts"])
        with_discount = next(s for s in sub["data"] if s["discounts"])
        item = with_discount["items"]["data"][0]
        customer = get(f"/v1/customers/{with_discount['customer']}")
        sandbox.create_customer()
        deleted_id = get("/v1/customers", limit=1)["data"][0]["id"]
        return {
            "subscription": get(f"/v1/subscriptions/{with_discount['id']}"),
            "subscription_item": get(f"/v1/subscription_items/{item['id']}"),
            "discount": with_discount["discounts"][0],
            "customer": customer,
            "price": get(f"/v1/prices/{item['price']['id']}"),
            "plan": item["plan"],
            "product": get(f"/v1/products/{item['price']['product']}"),
            "coupon": get(f"/v1/coupons/{with_discount['discounts'][0]['source']['coupon']}"),
            "event": get("/v1/events", limit=1)["data"][0],
            "deleted_customer": client.v1.customers.delete(deleted_id).to_dict(),
        }


@pytest.mark.parametrize("object_type", ["customer", "subscription", "subscription_item", "price",
                                         "product", "coupon", "discount", "plan", "event",
                                         "deleted_customer"])
def test_served_objects_have_stripes_fields(served, object_type):
    assert sorted(served[object_type]) == FIELDS[object_type]


def test_current_shape_details(served):
    sub, item = served["subscription"], served["subscription_item"]
    assert "current_period_end" not in sub and "discount" not in sub
    assert isinstance(item["current_period_start"], int) and item["price"]["object"] == "price"
    assert served["discount"]["source"]["type"] == "coupon"
    assert isinstance(served["discount"]["source"]["coupon"], str)
