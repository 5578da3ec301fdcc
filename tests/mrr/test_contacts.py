"""Contact snapshots: several subscriptions, several Stripe customers, several currencies."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from tests.mrr.shapes import DAY, NOW, PERIOD_END, T, item, price, subscription
from tests.mrr.test_renewal_and_stages import SEED
from worker.core.accounts import ContactInfo, contact_snapshot
from worker.core.money import FxTable, MissingFxRate, format_minor
from worker.core.stages import StageRules

FX = FxTable("usd", {"eur": Decimal("1.08"), "gbp": Decimal("1.27"), "jpy": Decimal("0.0067")})
RULES = StageRules.compile(SEED)
INFO = ContactInfo("acme-1", "account", "Acme", None)


def customer(cid: str, created: int = T - 300 * DAY, **metadata: str) -> dict:
    return {"id": cid, "name": f"name of {cid}", "email": None, "created": created,
            "metadata": {"account_id": "acme-1", **metadata}}


def sub(sid: str, amount: str, currency: str = "usd", status: str = "active", cus: str = "cus_1", **kw) -> dict:
    return subscription(item(price(amount, currency=currency, pid=f"p_{sid}"), iid=f"si_{sid}", **kw),
                        sid=sid, customer=cus, currency=currency, status=status)


def snap(subs, customers=None, fx=FX, preset="stripe", info=INFO):
    customers = customers if customers is not None else [customer("cus_1")]
    return contact_snapshot(info, customers, subs, preset=preset, fx=fx, stages=RULES, now=NOW).snapshot


def test_single_currency_contact_reports_in_that_currency():
    s = snap([sub("sub_a", "1000", "eur"), sub("sub_b", "500", "eur")])
    assert (s.mrr_minor, s.currency, s.mrr_native) == (1500, "eur", {"eur": 1500})


def test_multi_currency_contact_is_converted_into_the_reporting_currency():
    s = snap([sub("sub_a", "1000", "usd"), sub("sub_b", "1000", "eur")])
    assert (s.mrr_minor, s.currency) == (2080, "usd")  # 10.00 + 10.00 EUR * 1.08
    assert s.mrr_native == {"usd": 1000, "eur": 1000}


def test_conversion_is_rounded_once_per_contact():
    fx = FxTable("usd", {"eur": Decimal("1.01"), "gbp": Decimal("1.01")})
    s = snap([sub("sub_a", "50", "eur"), sub("sub_b", "50", "gbp")], fx=fx)
    assert s.mrr_minor == 101  # 50.5 + 50.5 = 101 exactly; rounding each first would give 100


def test_zero_decimal_currency_converts_by_its_unit():
    s = snap([sub("sub_a", "1000", "jpy"), sub("sub_b", "100", "usd")])
    assert (s.mrr_minor, s.currency) == (770, "usd")  # 1000 yen * 0.0067 = 6.70 USD + 1.00
    assert format_minor(1500, "jpy") == "1,500 JPY" and format_minor(150000, "usd") == "1,500.00 USD"


def test_contact_without_subscriptions_has_zero_in_the_reporting_currency():
    s = snap([], customers=[])
    assert (s.mrr_minor, s.currency, s.stage, s.renewal_date) == (0, "usd", None, None)
    assert s.to_json()["mrr"] == {"amount_minor": 0, "currency": "usd"}


def test_a_missing_rate_names_the_currency_and_the_fix():
    with pytest.raises(MissingFxRate, match="CHF.*fx_rates"):
        snap([sub("sub_a", "1000", "chf"), sub("sub_b", "1000", "usd")])


def test_several_stripe_customers_on_one_contact():
    customers = [customer("cus_2", created=T - 10 * DAY, plan="pro"), customer("cus_1", segment="smb", plan="basic")]
    early, late = T + 3 * DAY, T + 9 * DAY
    subs = [sub("sub_a", "1000", cus="cus_1", end=late), sub("sub_b", "2500", cus="cus_2", end=early),
            sub("sub_c", "9900", cus="cus_2", status="canceled")]
    s = snap(subs, customers)
    assert s.stripe_customer_ids == ("cus_1", "cus_2")
    assert s.mrr_minor == 3500
    assert s.renewal_date == datetime.fromtimestamp(early, tz=timezone.utc)
    assert s.stage == "customer"
    assert s.metadata == {"account_id": "acme-1", "segment": "smb", "plan": "pro"}  # newest customer wins
    assert s.name == "Acme"  # the contact's own name first
    assert [x.id for x in s.subscriptions] == ["sub_a", "sub_b", "sub_c"]


def test_trial_contact_has_a_stage_a_renewal_date_and_no_mrr():
    s = snap([sub("sub_t", "2000", status="trialing")])
    assert (s.stage, s.mrr_minor) == ("trial", 0)
    assert s.renewal_date == datetime.fromtimestamp(PERIOD_END, tz=timezone.utc)
    assert s.mrr_native == {}  # no counted subscription


def test_a_fully_discounted_subscription_still_counts_as_a_counted_currency():
    from tests.mrr.shapes import coupon, discount
    free = subscription(item(price("2000")), discounts=[discount(coupon(100))])
    s = snap([free])
    assert (s.mrr_minor, s.mrr_native) == (0, {"usd": 0})


def test_plans_hold_price_ids_lookup_keys_and_product_names():
    p = price("2000", pid="price_pro_m", lookup_key="pro", product="prod_pro")
    s = contact_snapshot(INFO, [customer("cus_1")], [subscription(item(p))], preset="stripe", fx=FX, stages=RULES,
                         now=NOW, product_names={"prod_pro": "Pro plan"}).snapshot
    assert s.subscriptions[0].plans == ("price_pro_m", "pro", "Pro plan", "interval:month")  # for `if: interval:`


def test_json_entry_has_the_exact_contract_shape():
    s = snap([sub("sub_a", "15000", end=int(datetime(2026, 12, 1, tzinfo=timezone.utc).timestamp()))])
    assert s.to_json() == {
        "contact_id": "acme-1", "contact_type": "account", "name": "Acme", "email": None,
        "stripe_customer_ids": ["cus_1"], "stripe_customers": [{"id": "cus_1", "account": "default"}],
        "stage": "customer", "mrr": {"amount_minor": 15000, "currency": "usd"},
        "renewal_date": "2026-12-01T00:00:00Z",
        "subscriptions": [{"id": "sub_a", "customer": "cus_1", "status": "active", "mrr_minor": 15000,
                           "currency": "usd", "renewal_date": "2026-12-01T00:00:00Z", "cancel_at": None,
                           "cancel_at_period_end": False, "trial_end": None}],
    }


def test_status_since_carries_forward_and_moves_on_a_change():
    first = snap([sub("sub_a", "1000")])
    start = datetime.fromtimestamp(T - 100 * DAY, tz=timezone.utc)
    assert first.subscriptions[0].status_since == start  # first seen active: since it started
    later = datetime(2026, 11, 20, tzinfo=timezone.utc)
    same = contact_snapshot(INFO, [customer("cus_1")], [sub("sub_a", "1000")], preset="stripe", fx=FX,
                            stages=RULES, now=later, at=later, previous=first).snapshot
    assert same.subscriptions[0].status_since == start
    moved = contact_snapshot(INFO, [customer("cus_1")], [sub("sub_a", "1000", status="past_due")],
                             preset="stripe", fx=FX, stages=RULES, now=later, at=later, previous=first).snapshot
    assert moved.subscriptions[0].status_since == later


def test_explanation_covers_subscriptions_fx_stage_and_renewal():
    explained = contact_snapshot(INFO, [customer("cus_1")], [sub("sub_a", "1000", "usd"), sub("sub_b", "1000", "eur")],
                                 preset="stripe", fx=FX, stages=RULES, now=NOW, explain=True)
    text = "\n".join(explained.lines)
    assert "subscription sub_b (active, EUR" in text
    assert "FX: 10.00 EUR × 1.08 = 10.80 USD" in text
    assert "contact MRR = 20.80 USD" in text
    assert "stage = customer" in text and "renewal date = " in text
