"""The sandbox's invoices: made by its clock like Stripe's, listed with Stripe's parameters, in
the current shape and (Stripe-Version before 2025-03-31) the older one, over real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from stripe_sandbox import Sandbox
from stripe_sandbox.invoices import period_amount

START = datetime(2026, 1, 1, 1, tzinfo=UTC)
KEY = "sk_test_invoices"


@pytest.fixture
def sb():
    sandbox = Sandbox(api_key=KEY, start=START, seed=5)
    with sandbox:
        yield sandbox


def get(sb: Sandbox, path: str, version: str | None = None, **params) -> dict:
    headers = {"Authorization": f"Bearer {KEY}", **({"Stripe-Version": version} if version else {})}
    response = httpx.get(sb.url + path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def catalog(sb: Sandbox) -> tuple[str, str, str]:
    product = sb.create_product("P")["id"]
    monthly = sb.create_price(product, "usd", unit_amount=1000)["id"]
    coupon = sb.create_coupon(percent_off=25, duration="repeating", duration_in_months=2)["id"]
    return product, monthly, coupon


def test_each_renewal_creates_one_invoice_with_its_period_and_the_coupon_until_it_ends(sb):
    _, monthly, coupon = catalog(sb)
    customer = sb.create_customer(name="A")["id"]
    sub = sb.create_subscription(customer, [{"price": monthly, "quantity": 3}], coupon=coupon)
    sb.advance(timedelta(days=95))  # renewals Feb 1, Mar 1, Apr 1; the coupon ends Mar 1
    invoices = get(sb, "/v1/invoices", subscription=sub["id"], limit=100)["data"]
    assert [i["billing_reason"] for i in invoices] == ["subscription_cycle"] * 3 + ["subscription_create"]
    assert [i["total"] for i in invoices] == [3000, 3000, 2250, 2250]  # newest first
    first = invoices[-1]
    line = first["lines"]["data"][0]
    assert first["parent"]["subscription_details"]["subscription"] == sub["id"] and "subscription" not in first
    assert line["parent"]["subscription_item_details"] == {
        "invoice_item": None, "proration": False, "proration_details": {"credited_items": None},
        "subscription": sub["id"], "subscription_item": sub["items"][0]}
    assert (line["amount"], line["quantity"], line["discount_amounts"][0]["amount"]) == (3000, 3, 750)
    assert line["pricing"]["price_details"]["price"] == monthly
    assert line["period"] == {"start": int(START.timestamp()), "end": int(datetime(2026, 2, 1, 1, tzinfo=UTC).timestamp())}
    assert first["status"] == "paid" and first["amount_paid"] == 2250


def test_older_api_versions_get_the_subscription_on_the_invoice_and_its_lines(sb):
    _, monthly, _ = catalog(sb)
    sub = sb.create_subscription(sb.create_customer(name="A")["id"], [{"price": monthly, "quantity": 1}])
    [invoice] = get(sb, "/v1/invoices", "2024-06-20")["data"]
    line = invoice["lines"]["data"][0]
    assert invoice["subscription"] == sub["id"] and "parent" not in invoice and invoice["paid"] is True
    assert (line["subscription"], line["subscription_item"], line["proration"], line["type"]) == (
        sub["id"], sub["items"][0], False, "subscription")
    assert line["price"]["id"] == monthly and line["plan"]["id"] == monthly and "pricing" not in line


def test_a_quantity_change_is_invoiced_at_once_as_prorations(sb):
    _, monthly, _ = catalog(sb)
    sub = sb.create_subscription(sb.create_customer(name="A")["id"], [{"price": monthly, "quantity": 2}])
    sb.advance(timedelta(days=10))  # Jan 11: 21 of January's 31 days remain
    sb.update_subscription(sub["id"], items=[{"id": sub["items"][0], "quantity": 5}])
    latest = get(sb, "/v1/invoices", subscription=sub["id"], limit=1)["data"][0]
    assert latest["billing_reason"] == "subscription_update"
    lines = latest["lines"]["data"]
    assert [(l["quantity"], l["amount"], l["parent"]["subscription_item_details"]["proration"]) for l in lines] == [
        (2, -round(2000 * 21 / 31), True), (5, round(5000 * 21 / 31), True)]


def test_past_due_renewals_stay_open_with_failed_attempts_and_paying_settles_them(sb):
    _, monthly, _ = catalog(sb)
    sub = sb.create_subscription(sb.create_customer(name="A")["id"], [{"price": monthly, "quantity": 1}],
                                 past_due_days=60, past_due_outcome="unpaid")
    sb.advance(timedelta(days=31))
    sb.fail_payment(sub["id"])
    open_ = get(sb, "/v1/invoices", subscription=sub["id"], status="open")["data"]
    assert [(i["attempt_count"], i["attempted"], i["amount_remaining"]) for i in open_] == [(2, True, 1000)]
    sb.advance(timedelta(days=29))  # Mar 1: renews while past due
    assert [(i["attempt_count"], i["status"]) for i in get(sb, "/v1/invoices", subscription=sub["id"])["data"][:2]] == [
        (1, "open"), (2, "open")]
    sb.pay(sub["id"])
    assert get(sb, "/v1/invoices", subscription=sub["id"], limit=1)["data"][0]["status"] == "paid"


def test_list_filters_and_paging_like_stripe(sb):
    _, monthly, _ = catalog(sb)
    a = sb.create_customer(name="A")["id"]
    b = sb.create_customer(name="B")["id"]
    sb.create_subscription(a, [{"price": monthly, "quantity": 1}])
    sb.advance(timedelta(days=1))
    sb.create_subscription(b, [{"price": monthly, "quantity": 1}])
    sb.advance(timedelta(days=70))
    everything = get(sb, "/v1/invoices", limit=100)["data"]
    assert len(everything) == 6 and [i["created"] for i in everything] == sorted(
        (i["created"] for i in everything), reverse=True)
    assert {i["customer"] for i in get(sb, "/v1/invoices", customer=a, limit=100)["data"]} == {a}
    cutoff = int(datetime(2026, 2, 15, tzinfo=UTC).timestamp())
    recent = get(sb, "/v1/invoices", **{"created[gte]": cutoff, "limit": 100})["data"]
    assert len(recent) == 2 and all(i["created"] >= cutoff for i in recent)
    first = get(sb, "/v1/invoices", limit=4)
    rest = get(sb, "/v1/invoices", limit=4, starting_after=first["data"][-1]["id"])
    assert first["has_more"] and not rest["has_more"]
    assert [i["id"] for i in first["data"] + rest["data"]] == [i["id"] for i in everything]
    bad = httpx.get(sb.url + "/v1/invoices", params={"status": "sleeping"}, headers={"Authorization": f"Bearer {KEY}"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "status"


def test_an_invoice_with_many_lines_lists_ten_and_the_rest_at_its_lines_url(sb):
    product, _, _ = catalog(sb)
    prices = [sb.create_price(product, "usd", unit_amount=100 * (n + 1))["id"] for n in range(12)]
    sb.create_subscription(sb.create_customer(name="A")["id"], [{"price": p, "quantity": 1} for p in prices])
    [invoice] = get(sb, "/v1/invoices")["data"]
    assert len(invoice["lines"]["data"]) == 10 and invoice["lines"]["has_more"]
    rest = get(sb, invoice["lines"]["url"], starting_after=invoice["lines"]["data"][-1]["id"])
    assert len(rest["data"]) == 2 and invoice["total"] == sum(100 * (n + 1) for n in range(12))


def test_trials_get_a_zero_invoice_and_the_first_real_one_at_the_trial_end(sb):
    _, monthly, _ = catalog(sb)
    sub = sb.create_subscription(sb.create_customer(name="A")["id"], [{"price": monthly, "quantity": 1}],
                                 trial_end=START + timedelta(days=14))
    sb.advance(timedelta(days=15))
    invoices = get(sb, "/v1/invoices", subscription=sub["id"])["data"]
    assert [(i["billing_reason"], i["total"]) for i in invoices] == [
        ("subscription_cycle", 1000), ("subscription_create", 0)]


def test_tiered_period_amounts():
    graduated = {"billing_scheme": "tiered", "tiers_mode": "graduated", "tiers": [
        {"up_to": 10, "unit_amount": 100, "flat_amount": 500}, {"up_to": None, "unit_amount": 50, "flat_amount": 0}]}
    volume = {**graduated, "tiers_mode": "volume"}
    assert period_amount(graduated, 15) == 500 + 10 * 100 + 5 * 50
    assert period_amount(volume, 15) == 15 * 50
    assert period_amount({"unit_amount": 300, "transform_quantity": {"divide_by": 10, "round": "up"}}, 25) == 900


def test_removing_an_item_credits_its_unused_time(sb):
    product, monthly, _ = catalog(sb)
    addon = sb.create_price(product, "usd", unit_amount=600)["id"]
    sub = sb.create_subscription(sb.create_customer(name="A")["id"],
                                 [{"price": monthly, "quantity": 1}, {"price": addon, "quantity": 1}])
    sb.advance(timedelta(days=10))
    removed = sub["items"][1]
    sb.update_subscription(sub["id"], items=[{"id": removed, "deleted": True}])
    lines = get(sb, "/v1/invoices", subscription=sub["id"], limit=1)["data"][0]["lines"]["data"]
    assert [(l["parent"]["subscription_item_details"]["subscription_item"], l["amount"]) for l in lines] == [
        (removed, -round(600 * 21 / 31))]
