"""Pure-core rules that follow Stripe's billing (issue #13): product-limited coupons, coupon and
price `currency_options` in the subscription's currency, customer-level discounts (inherited
when the subscription has none; item-level still first; both presets with the coupon's
duration), on the integer path and the explained path alike."""

from __future__ import annotations

from fractions import Fraction

import pytest

from tests.mrr.shapes import NOW, PERIOD_START, T, coupon, discount, item, price, subscription, tier
from worker.core.integer_mrr import integer_total
from worker.core.mrr import subscription_mrr
from worker.core.pricing import UnreadablePrice

DAY = 86400


def eur_option_price(usd: str = "1000", eur: str = "900") -> dict:
    p = price(usd, product="prod_pro")
    p["currency_options"] = {"usd": {"unit_amount": int(usd), "unit_amount_decimal": usd},
                             "eur": {"unit_amount": int(eur), "unit_amount_decimal": eur, "tax_behavior": "exclusive"}}
    return p


def both(sub, preset="stripe", customer_discount=None) -> int:
    """MRR minor units; the integer and explained paths must agree to the exact value."""
    fast = subscription_mrr(sub, preset, NOW, customer_discount=customer_discount)
    explained = subscription_mrr(sub, preset, NOW, explain=True, customer_discount=customer_discount)
    assert (fast.minor, fast.exact, fast.currency) == (explained.minor, explained.exact, explained.currency)
    return fast.minor


def customer_discount(c: dict, **kwargs) -> dict:
    d = discount(c, did="di_customer", **kwargs)
    d["subscription"] = None
    return d


CASES = [
    # product-limited coupon: Pro 20.00 + Base 10.00, 50% on Pro only → 20.00
    ("product-limited", subscription(item(price("2000", product="prod_pro"), iid="si_pro"),
                                     item(price("1000", pid="price_base", product="prod_base"), iid="si_base"),
                                     discounts=[discount(coupon(50, products=["prod_pro"]))]), None, 2000),
    # USD 10.00 amount_off with an EUR option of 9.00 on an EUR 100.00 subscription → 91.00 EUR
    ("coupon-currency-option", subscription(item(price("10000", currency="eur")), currency="eur",
                                            discounts=[discount(coupon(amount=1000, currency="usd",
                                                                       currency_options={"eur": {"amount_off": 900}}))]),
     None, 9100),
    # a USD price with an EUR option, on an EUR subscription → the option's 9.00
    ("price-currency-option", subscription(item(eur_option_price()), currency="eur"), None, 900),
    # tiers inside the currency option (graduated, flat amounts): 10 × 5.00 + 10.00 + 5 × 4.00
    ("option-tiers", subscription(item({**price(None, scheme="tiered", mode="graduated",
                                                 tiers=[tier(10, 600, 1200), tier(None, 450)]),
                                        "currency_options": {"eur": {"tiers": [tier(10, 500, 1000), tier(None, 400)]}}},
                                       15), currency="eur"), None, 8000),
    # customer forever 20% on a 100.00 subscription without its own discount → 80.00
    ("customer-discount", subscription(item(price("10000"))), customer_discount(coupon(20)), 8000),
    # the subscription's own 10% takes precedence over the customer's 20% → 90.00
    ("own-discount-wins", subscription(item(price("10000")), discounts=[discount(coupon(10))]),
     customer_discount(coupon(20)), 9000),
    # item-level first (50% on the item), then the customer's 20% → 100 × 0.5 × 0.8
    ("item-then-customer", subscription(item(price("10000"), discounts=[discount(coupon(50), did="di_item")])),
     customer_discount(coupon(20)), 4000),
    # customer amount_off 5.00 per quarter on a quarterly 300.00 price → 100.00 − 1.67 a month
    ("customer-amount-normalised", subscription(item(price("30000", count=3))),
     customer_discount(coupon(amount=500)), 9833),
    # customer coupon limited to another product: nothing off
    ("customer-limited-elsewhere", subscription(item(price("10000"))),
     customer_discount(coupon(20, products=["prod_other"])), 10000),
    # zero-decimal tie: ¥25 − 10% = ¥22.5 → ¥22 (half to even)
    ("yen-tie", subscription(item(price("25", currency="jpy")), currency="jpy"), customer_discount(coupon(10)), 22),
    # three-decimal tie: 12.345 BHD − 50% = 6.1725 → 6.172
    ("dinar-tie", subscription(item(price("12345", currency="bhd")), currency="bhd",
                               discounts=[discount(coupon(50))]), None, 6172),
    # more than 10 items, coupon limited to the 13th item's product
    ("many-items", subscription(*(item(price("1001", currency="kwd", pid=f"price_{i}", product=f"prod_{i}"),
                                       iid=f"si_{i}") for i in range(13)), currency="kwd",
                                discounts=[discount(coupon(50, products=["prod_12"]))]), None, 12512),
]


@pytest.mark.parametrize(("name", "sub", "customer", "expected"), CASES, ids=[c[0] for c in CASES])
def test_mrr_follows_stripes_billing(name, sub, customer, expected):
    assert both(sub, customer_discount=customer) == expected


@pytest.mark.parametrize(("duration", "stripe_mrr", "chartmogul_mrr"), [
    ("forever", 8000, 8000),
    ("repeating", 10000, 8000),   # in effect now (ends in 30 days): only chartmogul subtracts it
    ("once", 10000, 8000),        # applied in this period: only chartmogul subtracts it
])
def test_customer_discount_under_both_presets(duration, stripe_mrr, chartmogul_mrr):
    sub = subscription(item(price("10000")))
    cd = customer_discount(coupon(20, duration=duration), start=PERIOD_START + DAY,
                           end=T + 30 * DAY if duration == "repeating" else None)
    assert both(sub, "stripe", cd) == stripe_mrr
    assert both(sub, "chartmogul", cd) == chartmogul_mrr


def test_ended_customer_discount_is_not_subtracted_by_chartmogul():
    cd = customer_discount(coupon(20, duration="repeating"), start=T - 100 * DAY, end=T - DAY)
    assert both(subscription(item(price("10000"))), "chartmogul", cd) == 10000


def test_common_new_shapes_stay_on_the_integer_path():
    for sub, cd in [(subscription(item(eur_option_price()), currency="eur"), None),
                    (subscription(item(price("10000"))), customer_discount(coupon(20))),
                    (subscription(item(price("10000")), discounts=[discount(coupon(10))]),
                     customer_discount(coupon(20, products=["prod_x"])))]:  # the customer's is not used
        total = integer_total(sub, sub["currency"], "stripe", NOW, cd)
        assert total is not None
        assert Fraction(*total) == subscription_mrr(sub, "stripe", NOW, explain=True, customer_discount=cd).exact


def test_price_without_an_option_for_the_subscription_currency_is_an_error_not_a_relabel():
    sub = subscription(item(price("1000")), currency="eur")  # a USD-only price on an EUR subscription
    with pytest.raises(UnreadablePrice) as caught:
        subscription_mrr(sub, "stripe", NOW)
    assert "no currency option for EUR" in str(caught.value)


def test_explanation_shows_the_customer_discount_and_the_currency_option():
    sub = subscription(item(eur_option_price()), currency="eur", customer="cus_9")
    lines = "\n".join(subscription_mrr(sub, "stripe", NOW, explain=True,
                                       customer_discount=customer_discount(coupon(20, cid="LOYAL"))).lines)
    assert "EUR amounts from its currency_options" in lines
    assert "customer-level discount of cus_9" in lines and "coupon LOYAL (20% off, forever)" in lines
    assert "9.00 EUR → 7.20 EUR" in lines
    own = subscription(item(price("1000")), discounts=[discount(coupon(10))], customer="cus_9")
    lines = "\n".join(subscription_mrr(own, "stripe", NOW, explain=True,
                                       customer_discount=customer_discount(coupon(20))).lines)
    assert "customer-level discount of cus_9: not applied (the subscription's own discounts take precedence)" in lines
