"""The integer-only MRR path (`worker.core.integer_mrr`) against the general exact path.

`subscription_mrr(..., explain=True)` always takes the general, step-by-step Fraction path;
without `explain` the common shapes take the integer path. They must agree to the exact
value (not only the rounded cent) for every input, and the integer path must really be taken
for the shapes it is meant for (else the speed it exists for is silently lost).
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.mrr.shapes import NOW, PERIOD_START, T, coupon, discount, item, price, subscription, tax_rate, tier
from worker.core.integer_mrr import integer_total
from worker.core.mrr import subscription_mrr

STATUSES = ["active", "active", "active", "past_due", "paused", "trialing", "canceled", "unpaid"]
CURRENCIES = ["usd", "eur", "jpy", "krw", "bhd", "kwd"]  # two-, zero- and three-decimal
whole = st.integers(0, 10**7).map(str)
decimal = st.decimals(min_value=0, max_value=10**5, places=3, allow_nan=False).map(str)


@st.composite
def prices(draw, currency):
    interval = draw(st.sampled_from(["day", "week", "month", "year"]))
    count = draw(st.sampled_from([None, 1, 2, 3, 6, 12]))
    kind = draw(st.sampled_from(["unit", "unit", "integer_field", "transform", "tiered", "decimal", "metered"]))
    if kind == "tiered":
        bounds = sorted(set(draw(st.lists(st.integers(1, 100), min_size=1, max_size=3))))
        tiers = [tier(b, draw(st.integers(0, 5000)), draw(st.integers(0, 5000))) for b in bounds + [None]]
        if draw(st.booleans()):
            tiers[0]["unit_amount_decimal"] = draw(decimal)  # a decimal tier: general path
        p = price(None, scheme="tiered", mode=draw(st.sampled_from(["volume", "graduated"])), tiers=tiers,
                  interval=interval, currency=currency)
    else:
        unit = draw(decimal if kind == "decimal" else whole)
        transform = (draw(st.integers(1, 50)), draw(st.sampled_from(["up", "down"]))) if kind == "transform" else None
        p = price(unit, interval=interval, currency=currency, transform=transform,
                  usage="metered" if kind == "metered" else "licensed",
                  tax_behavior=draw(st.sampled_from(["exclusive", "unspecified", "inclusive"])))
        if kind == "integer_field":
            p["unit_amount_decimal"] = None  # only the integer `unit_amount`
    p["recurring"]["interval_count"] = count
    p["product"] = draw(st.sampled_from(PRODUCTS))
    if draw(st.integers(0, 3)) == 0:  # a multi-currency price whose default is another currency
        p = _in_other_default(p, currency, keep_option=draw(st.integers(0, 5)) > 0)
    return p


PRODUCTS = ("prod_a", "prod_b")


def _in_other_default(p, currency, *, keep_option):
    """`p` re-expressed as a price whose default currency differs from the subscription's: its
    amounts move into `currency_options[currency]`, the default gets other (wrong) amounts."""
    option = {"unit_amount": p.get("unit_amount"), "unit_amount_decimal": p.get("unit_amount_decimal"),
              "tax_behavior": p.get("tax_behavior"), "custom_unit_amount": None}
    if p.get("tiers") is not None:
        option["tiers"] = p["tiers"]
    default = "eur" if currency != "eur" else "usd"
    wrong = {"unit_amount": 7, "unit_amount_decimal": "7"} if p.get("tiers") is None else {"tiers": [tier(None, 7, 7)]}
    return {**p, **wrong, "currency": default,
            "currency_options": {default: {"unit_amount": 7}, **({currency: option} if keep_option else {})}}


@st.composite
def discounts(draw, currency):
    duration = draw(st.sampled_from(["forever", "once", "repeating"]))
    if draw(st.booleans()):
        percent = draw(st.one_of(st.integers(0, 100), st.decimals(0, 100, places=2).map(float)))
        c = coupon(percent, duration=duration, products=draw(st.sampled_from([None, None, ["prod_a"], list(PRODUCTS)])))
    else:
        other = draw(st.sampled_from([currency, currency.upper(), "usd", "eur"]))
        options = {currency: {"amount_off": draw(st.integers(0, 10**5))}} if draw(st.booleans()) else None
        c = coupon(amount=draw(st.integers(1, 10**6)), duration=duration, currency=other, currency_options=options)
    start = draw(st.sampled_from([PERIOD_START, T - 86400 * 40, T + 3600, None]))
    end = draw(st.sampled_from([None, T - 1, T + 86400]))
    shape = draw(st.sampled_from(["current", "legacy", "coupon_object"]))
    if shape == "coupon_object":
        return c
    d = discount(c, start=start, end=end, did=f"di_{draw(st.integers(0, 3))}", legacy=shape == "legacy")
    if start is None:
        d["start"] = None
    return d


@st.composite
def subscriptions(draw):
    currency = draw(st.sampled_from(CURRENCIES))
    taxes = st.lists(st.builds(lambda p, inc: tax_rate(p, inclusive=inc), st.sampled_from([0.0, 7.0, 19.0, 20.5]),
                               st.booleans()), max_size=1)
    items = [item(draw(prices(currency)), draw(st.one_of(st.none(), st.integers(0, 500))), iid=f"si_{i}",
                  discounts=draw(st.lists(discounts(currency), max_size=2)),
                  tax_rates=draw(st.one_of(st.just([]), taxes)))
             for i in range(draw(st.integers(1, 3)))]
    sub = subscription(*items, status=draw(st.sampled_from(STATUSES)), currency=currency,
                       discounts=draw(st.lists(discounts(currency), max_size=3)),
                       default_tax_rates=draw(st.one_of(st.just([]), taxes)))
    if draw(st.booleans()) and sub["discounts"]:
        sub["discount"], sub["discounts"] = sub["discounts"][0], []  # the legacy singular field
    return sub


def _outcome(sub, preset, explain, customer_discount=None):
    try:
        r = subscription_mrr(sub, preset, NOW, explain=explain, customer_discount=customer_discount)
    except Exception as error:  # noqa: BLE001 — both paths must fail alike
        return type(error)
    return r.minor, r.exact, r.counted, r.currency


@settings(max_examples=600, deadline=None)
@given(subscriptions(), st.sampled_from(["stripe", "chartmogul"]), st.data())
def test_integer_path_equals_the_exact_path_to_the_exact_value(sub, preset, data):
    currency = sub["currency"]
    customer_discount = data.draw(st.one_of(st.none(), discounts(currency).filter(lambda d: d.get("object") == "discount")))
    fast = _outcome(sub, preset, False, customer_discount)
    explained = _outcome(sub, preset, True, customer_discount)
    assert fast == explained
    if isinstance(fast, tuple):
        assert type(fast[0]) is int and type(fast[1]) in (int, Fraction)  # never a float


PLAIN = [
    subscription(item(price("2000"), 3)),
    subscription(item(price("2999", interval="year", count=2, currency="jpy"), 7), currency="jpy"),
    subscription(item(price("1250", interval="week", count=3, currency="bhd"), 1), currency="bhd"),
    subscription(item(price("500", transform=(10, "up")), 25), item(price("0", interval="day"), 4, iid="si_2")),
    subscription(item(price(None, scheme="tiered", mode="graduated", tiers=[tier(5, 1000), tier(None, 800, 500)]),
                      12)),
    subscription(item(price("3000", interval="month", count=3), 2,
                      discounts=[discount(coupon(amount=600), did="di_item")]),
                 discounts=[discount(coupon(33.3), did="di_sub"), discount(coupon(10, duration="repeating"))]),
    subscription(item(price("1000"), tax_rates=[tax_rate(19.0, inclusive=False)])),
]


@pytest.mark.parametrize("sub", PLAIN)
@pytest.mark.parametrize("preset", ["stripe", "chartmogul"])
def test_common_shapes_take_the_integer_path(sub, preset):
    total = integer_total(sub, sub["currency"], preset, NOW)
    assert total is not None
    num, den = total
    assert Fraction(num, den) == subscription_mrr(sub, preset, NOW, explain=True).exact


@pytest.mark.parametrize(("sub", "preset"), [
    (subscription(item(price("12.5"))), "stripe"),  # a decimal amount
    (subscription(item(price("1000", tax_behavior="inclusive"), tax_rates=[tax_rate(20.0, inclusive=True)])),
     "stripe"),
    (subscription(item(price("1000")), discounts=[discount(coupon(10, products=["prod_pro"]))]), "stripe"),
    # chartmogul `once`: counted only while it belongs to the current period (needs its start)
    (subscription(item(price("1000")), discounts=[discount(coupon(10, duration="once"), start=T - 40 * 86400)]),
     "chartmogul"),
])
def test_unusual_shapes_go_to_the_general_path(sub, preset):
    assert integer_total(sub, sub["currency"], preset, NOW) is None
    assert subscription_mrr(sub, preset, NOW).exact == subscription_mrr(sub, preset, NOW, explain=True).exact


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["usd", "jpy", "bhd"]),
       st.dictionaries(st.sampled_from(CURRENCIES), st.integers(0, 10**9), max_size=4),
       st.lists(st.decimals(min_value="0.0001", max_value=1000, places=4), min_size=len(CURRENCIES),
                max_size=len(CURRENCIES)))
def test_integer_fx_total_equals_the_exact_conversion_rounded_once(reporting, native, rates):
    from worker.core.money import FxTable, round_minor

    fx = FxTable(reporting, dict(zip(CURRENCIES, rates)))
    assert fx.rounded_total(native) == round_minor(fx.value(native))


@settings(max_examples=150, deadline=None)
@given(st.lists(subscriptions(), min_size=0, max_size=3))
def test_contact_mrr_is_the_same_with_and_without_explanation(subs):
    from decimal import Decimal

    from worker.core.money import FxTable, MissingFxRate
    from worker.core.mrr import contact_mrr

    fx = FxTable("usd", {"eur": Decimal("1.08"), "jpy": Decimal("0.0067"), "bhd": Decimal("2.65"),
                         "kwd": Decimal("3.2517")})  # no krw: a missing rate must fail alike
    try:
        results = [subscription_mrr(s, "stripe", NOW) for s in subs]
    except Exception:  # noqa: BLE001 — unreadable input is the general path's business (tested above)
        return
    outcomes = []
    for explain in (False, True):
        try:
            total = contact_mrr(results, fx, explain=explain)
            outcomes.append((total.minor, total.currency, total.native))
        except MissingFxRate as error:
            outcomes.append(str(error))
    assert outcomes[0] == outcomes[1]
