"""PRODUCT.md §5, MRR of one subscription: every rule as a row of a table.

Each expected value is worked out by hand in the row's comment, in minor units (cents)."""

from __future__ import annotations

import pytest

from tests.mrr.shapes import (
    DAY,
    NOW,
    PERIOD_END,
    PERIOD_START,
    T,
    coupon,
    discount,
    item,
    legacy_subscription,
    plan,
    price,
    subscription,
    tax_rate,
    tier,
)
from worker.core.discounts import UnreadableDiscount
from worker.core.mrr import subscription_mrr
from worker.core.pricing import UnreadablePrice

TIERS = [tier(5, 1000), tier(10, 800, flat=500), tier(None, 600, flat=1000)]


def one(p, quantity=1, **sub_kwargs):
    return subscription(item(p, quantity), **sub_kwargs)


INTERVALS = [
    ("month", one(price("2000")), 2000),
    ("quarter: month x3", one(price("3000", count=3)), 1000),
    ("quarter rounds once: 1000/3 = 333.33", one(price("1000", count=3)), 333),
    ("year", one(price("12000", interval="year")), 1000),
    ("year 1000/12 = 83.33", one(price("1000", interval="year")), 83),
    ("two years 24000/24", one(price("24000", interval="year", count=2)), 1000),
    ("week 1000*52/12 = 4333.33", one(price("1000", interval="week")), 4333),
    ("fortnight 1000*52/12/2 = 2166.67", one(price("1000", interval="week", count=2)), 2167),
    ("day 100*365/12 = 3041.67", one(price("100", interval="day")), 3042),
    ("7 days 700*365/12/7 = 3041.67", one(price("700", interval="day", count=7)), 3042),
]

QUANTITIES = [
    ("quantity 5 x 2000", one(price("2000"), 5), 10000),
    ("quantity 0", one(price("2000"), 0), 0),
    ("transform 25/10 up = 3 x 500", one(price("500", transform=(10, "up")), 25), 1500),
    ("transform 25/10 down = 2 x 500", one(price("500", transform=(10, "down")), 25), 1000),
    ("transform 20/10 up = exactly 2", one(price("500", transform=(10, "up")), 20), 1000),
    ("decimal unit 0.5 x 3 = 1.5 -> 2 (half-even)", one(price("0.5"), 3), 2),
    ("decimal unit 0.5 x 5 = 2.5 -> 2 (half-even)", one(price("0.5"), 5), 2),
    ("rounded once per subscription: 0.5 + 0.5 = 1, not 0 + 0",
     subscription(item(price("0.5"), 1), item(price("0.5", pid="p2"), 1, iid="si_2")), 1),
    ("quarterly decimal 100.5 x 3 / 3 = 100.5 -> 100", one(price("100.5", count=3), 3), 100),
]

TIERED = [
    ("volume 7 in tier 2: 7*800 + 500", one(price(None, scheme="tiered", mode="volume", tiers=TIERS), 7), 6100),
    ("volume 5 at the tier-1 bound: 5*1000", one(price(None, scheme="tiered", mode="volume", tiers=TIERS), 5), 5000),
    ("volume 12 in the open tier: 12*600 + 1000", one(price(None, scheme="tiered", mode="volume", tiers=TIERS), 12),
     8200),
    ("graduated 7: 5*1000 + (2*800 + 500)", one(price(None, scheme="tiered", mode="graduated", tiers=TIERS), 7), 7100),
    ("graduated 12: 5000 + (5*800+500) + (2*600+1000)",
     one(price(None, scheme="tiered", mode="graduated", tiers=TIERS), 12), 11700),
    ("graduated 10 at a bound: 5000 + 4500", one(price(None, scheme="tiered", mode="graduated", tiers=TIERS), 10),
     9500),
    ("graduated yearly 7: 7100/12 = 591.67", one(price(None, scheme="tiered", mode="graduated", tiers=TIERS,
                                                       interval="year"), 7), 592),
]

METERED = [
    ("metered item counts 0", one(price("50", usage="metered"), None), 0),
    ("metered + licensed", subscription(item(price("50", usage="metered", pid="p_m"), None, iid="si_m"),
                                        item(price("2000"), 1)), 2000),
]


@pytest.mark.parametrize("case, sub, expected", INTERVALS + QUANTITIES + TIERED + METERED,
                         ids=[row[0] for row in INTERVALS + QUANTITIES + TIERED + METERED])
@pytest.mark.parametrize("preset", ["stripe", "chartmogul"])
def test_price_rules(case, sub, expected, preset):
    result = subscription_mrr(sub, preset, NOW)
    assert (result.minor, result.currency) == (expected, "usd")


FUTURE, PAST = T + 30 * DAY, T - DAY
MONTHLY = price("2000")
QUARTERLY = price("3000", count=3)

# (case, subscription, expected under stripe, expected under chartmogul)
DISCOUNTS = [
    ("forever 25%", one(MONTHLY, discounts=[discount(coupon(25))]), 1500, 1500),
    ("forever 25.5% (JSON float) = 1490", one(MONTHLY, discounts=[discount(coupon(25.5))]), 1490, 1490),
    ("repeating 25% in effect", one(MONTHLY, discounts=[discount(coupon(25, duration="repeating"), end=FUTURE)]),
     2000, 1500),
    ("repeating 25% already ended", one(MONTHLY, discounts=[discount(coupon(25, duration="repeating"), end=PAST)]),
     2000, 2000),
    ("once 25% this period", one(MONTHLY, discounts=[discount(coupon(25, duration="once"), start=PERIOD_START)]),
     2000, 1500),
    ("once 25% used on an earlier period",
     one(MONTHLY, discounts=[discount(coupon(25, duration="once"), start=PERIOD_START - 40 * DAY)]), 2000, 2000),
    ("forever not started yet", one(MONTHLY, discounts=[discount(coupon(25), start=FUTURE)]), 2000, 2000),
    ("forever 500 off", one(MONTHLY, discounts=[discount(coupon(amount=500))]), 1500, 1500),
    ("repeating 500 off", one(MONTHLY, discounts=[discount(coupon(amount=500, duration="repeating"), end=FUTURE)]),
     2000, 1500),
    ("once 500 off", one(MONTHLY, discounts=[discount(coupon(amount=500, duration="once"))]), 2000, 1500),
    ("quarterly: 600 off per quarter = (3000-600)/3", one(QUARTERLY, discounts=[discount(coupon(amount=600))]),
     800, 800),
    ("yearly: 1200 off per year = (12000-1200)/12",
     one(price("12000", interval="year"), discounts=[discount(coupon(amount=1200))]), 900, 900),
    ("discount larger than the price", one(MONTHLY, discounts=[discount(coupon(amount=5000))]), 0, 0),
    ("100% off", one(MONTHLY, discounts=[discount(coupon(100))]), 0, 0),
    ("coupon at discount.coupon (older API)", one(MONTHLY, discounts=[discount(coupon(10), legacy=True)]),
     1800, 1800),
    ("two forever coupons: 10% then 500 off = 2000*0.9 - 500",
     one(MONTHLY, discounts=[discount(coupon(10), did="di_a"), discount(coupon(amount=500, cid="B"), did="di_b")]),
     1300, 1300),
    ("item-level forever 50% on one of two items: 1000 + 1000",
     subscription(item(MONTHLY, discounts=[discount(coupon(50), did="di_i")]),
                  item(price("1000", pid="p_b", product="prod_b"), iid="si_2")), 2000, 2000),
    ("applies_to prod_pro only: 50% of 2000 + 1000",
     subscription(item(MONTHLY), item(price("1000", pid="p_b", product="prod_b"), iid="si_2"),
                  discounts=[discount(coupon(50, products=["prod_pro"]))]), 2000, 2000),
    ("amount off shared in proportion then taxes backed out per item: (2000-300*2/3) + (1000-300/3)/1.25",
     subscription(item(MONTHLY),
                  item(price("1000", pid="p_b"), iid="si_2", tax_rates=[tax_rate(25, inclusive=True)]),
                  discounts=[discount(coupon(amount=300))]), 2520, 2520),
    ("amount off in another currency does not apply", one(MONTHLY, discounts=[discount(coupon(amount=500,
                                                                                         currency="eur"))]),
     2000, 2000),
    ("amount off through currency_options",
     one(MONTHLY, discounts=[discount(coupon(amount=500, currency="eur", currency_options={"usd": {"amount_off": 400}}))]),
     1600, 1600),
]


@pytest.mark.parametrize("case, sub, stripe_expected, chartmogul_expected", DISCOUNTS,
                         ids=[row[0] for row in DISCOUNTS])
def test_discounts_under_both_presets(case, sub, stripe_expected, chartmogul_expected):
    assert subscription_mrr(sub, "stripe", NOW).minor == stripe_expected
    assert subscription_mrr(sub, "chartmogul", NOW).minor == chartmogul_expected


# status -> (counted by stripe, counted by chartmogul)
STATUSES = {
    "active": (True, True), "past_due": (True, True), "paused": (False, True), "trialing": (False, False),
    "incomplete": (False, False), "incomplete_expired": (False, False), "unpaid": (False, False),
    "canceled": (False, False),
}


@pytest.mark.parametrize("status", sorted(STATUSES))
def test_counted_statuses(status):
    sub = one(price("2000"), status=status)
    stripe, chartmogul = STATUSES[status]
    assert subscription_mrr(sub, "stripe", NOW).minor == (2000 if stripe else 0)
    assert subscription_mrr(sub, "chartmogul", NOW).minor == (2000 if chartmogul else 0)
    assert subscription_mrr(sub, "stripe", NOW).counted is stripe


def test_a_subscription_set_to_cancel_keeps_counting_until_it_ends():
    sub = one(price("2000"), cancel_at_period_end=True)
    assert subscription_mrr(sub, "stripe", NOW).minor == 2000
    sub = one(price("2000"), cancel_at=PERIOD_END)
    assert subscription_mrr(sub, "stripe", NOW).minor == 2000


TAXES = [
    ("inclusive 20% backed out: 1200/1.2", one(price("1200"), default_tax_rates=[tax_rate(20, inclusive=True)]), 1000),
    ("exclusive 20% ignored", one(price("1200"), default_tax_rates=[tax_rate(20, inclusive=False)]), 1200),
    ("price tax_behavior inclusive backs out its rate",
     one(price("1200", tax_behavior="inclusive"), default_tax_rates=[tax_rate(20, inclusive=False)]), 1000),
    ("item tax_rates override the subscription default",
     subscription(item(price("1200"), tax_rates=[tax_rate(20, inclusive=False)]),
                  default_tax_rates=[tax_rate(20, inclusive=True, tid="txr_d")]), 1200),
    ("inclusive 19% (float) of 1000 = 840.34", one(price("1000"), default_tax_rates=[tax_rate(19.0, inclusive=True)]),
     840),
    ("discount before inclusive tax: 1200*0.5/1.2", one(price("1200"), default_tax_rates=[tax_rate(20, inclusive=True)],
                                                        discounts=[discount(coupon(50))]), 500),
]


@pytest.mark.parametrize("case, sub, expected", TAXES, ids=[row[0] for row in TAXES])
def test_taxes_are_excluded(case, sub, expected):
    assert subscription_mrr(sub, "stripe", NOW).minor == expected


def test_zero_decimal_currency_amounts_are_the_unit_itself():
    jpy = one(price("1500", currency="jpy"), 2, currency="jpy")
    assert subscription_mrr(jpy, "stripe", NOW)[:2] == (3000, "jpy")
    yearly = one(price("10000", currency="jpy", interval="year"), currency="jpy")
    assert subscription_mrr(yearly, "stripe", NOW).minor == 833  # 10000/12 = 833.33 yen


LEGACY = [
    ("plan on items", legacy_subscription(plan(2000), 2), 4000),
    ("plan and quantity on the subscription, no items", legacy_subscription(plan(2000), 3, with_items=False), 6000),
    ("legacy yearly plan", legacy_subscription(plan(24000, interval="year")), 2000),
    ("singular discount, coupon at discount.coupon",
     legacy_subscription(plan(2000), 2, discount_=discount(coupon(10), legacy=True)), 3600),
]


@pytest.mark.parametrize("case, sub, expected", LEGACY, ids=[row[0] for row in LEGACY])
def test_legacy_shape(case, sub, expected):
    assert subscription_mrr(sub, "stripe", NOW).minor == expected


def test_explanation_shows_each_step():
    sub = one(price("3000", count=3), 2, discounts=[discount(coupon(10))])
    result = subscription_mrr(sub, "stripe", NOW, explain=True)
    text = "\n".join(result.lines)
    assert result.minor == 1800  # 3000*2/3*0.9
    assert "per_unit 30.00 USD × 2 = 60.00 USD" in text
    assert "60.00 USD ÷ 3 = 20.00 USD" in text
    assert "10% off" in text and "20.00 USD → 18.00 USD" in text
    assert "→ 18.00 USD (rounded half-even, once)" in text


def test_explanation_names_the_status_rule():
    lines = subscription_mrr(one(price("2000"), status="trialing"), "stripe", NOW, explain=True).lines
    assert any("status trialing is not counted under preset stripe" in line for line in lines)


def test_an_unexpanded_price_or_discount_is_a_clear_error():
    sub = subscription(item(price("2000")))
    sub["items"]["data"][0]["price"] = "price_123"
    with pytest.raises(UnreadablePrice, match="si_1"):
        subscription_mrr(sub, "stripe", NOW)
    with pytest.raises(UnreadableDiscount, match="sync --full"):
        subscription_mrr(one(price("2000"), discounts=["di_123"]), "stripe", NOW)


@pytest.mark.parametrize("numerator, denominator, expected", [
    (5, 2, 2), (7, 2, 4), (-5, 2, -2), (-7, 2, -4), (10, 3, 3), (11, 3, 4), (6, 3, 2), (0, 7, 0), (1, 2, 0),
])
def test_integer_half_even_rounding(numerator, denominator, expected):
    from worker.core.money import round_ratio
    assert round_ratio(numerator, denominator) == expected  # 2.5→2, 3.5→4, -2.5→-2, 3.33→3, 3.67→4


def test_a_2017_era_subscription_without_its_own_currency_takes_its_plans():
    sub = legacy_subscription(plan(2000, currency="eur"), 2)
    del sub["currency"]
    assert subscription_mrr(sub, "stripe", NOW)[:2] == (4000, "eur")
