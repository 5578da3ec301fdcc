"""Properties of MRR over random prices, quantities, discounts and statuses (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.mrr.shapes import (
    NOW,
    PERIOD_START,
    T,
    coupon,
    discount,
    item,
    price,
    subscription,
    tier,
)
from worker.core.mrr import subscription_mrr

STATUSES = ["active", "past_due", "paused", "trialing", "incomplete", "incomplete_expired", "unpaid", "canceled"]
intervals = st.sampled_from(["day", "week", "month", "year"])
counts = st.integers(1, 12)
units = st.one_of(st.integers(0, 10**7).map(str),
                  st.decimals(min_value=0, max_value=10**5, places=4, allow_nan=False).map(str))


@st.composite
def tiered_prices(draw):
    bounds = sorted(set(draw(st.lists(st.integers(1, 200), min_size=1, max_size=4))))
    tiers = [tier(b, draw(st.integers(0, 5000)), draw(st.integers(0, 5000))) for b in bounds]
    tiers.append(tier(None, draw(st.integers(0, 5000)), draw(st.integers(0, 5000))))
    return price(None, scheme="tiered", mode=draw(st.sampled_from(["volume", "graduated"])), tiers=tiers,
                 interval=draw(intervals), count=draw(counts))


prices = st.one_of(
    st.builds(lambda u, i, c: price(u, interval=i, count=c), units, intervals, counts),
    st.builds(lambda u, d, r: price(u, transform=(d, r)), units, st.integers(1, 100), st.sampled_from(["up", "down"])),
    tiered_prices(),
)


@st.composite
def coupons(draw):
    duration = draw(st.sampled_from(["forever", "once", "repeating"]))
    end = draw(st.sampled_from([None, T - 86400, T + 86400])) if duration == "repeating" else None
    if draw(st.booleans()):
        c = coupon(draw(st.decimals(min_value=0, max_value=100, places=2).map(float)), duration=duration)
    else:
        c = coupon(amount=draw(st.integers(0, 10**7)), duration=duration)
    return discount(c, start=PERIOD_START, end=end, did=f"di_{draw(st.integers(0, 10**6))}")


@st.composite
def subscriptions(draw):
    n = draw(st.integers(1, 3))
    items = [item(draw(prices), draw(st.integers(0, 1000)), iid=f"si_{i}",
                  discounts=draw(st.lists(coupons(), max_size=1))) for i in range(n)]
    return subscription(*items, status=draw(st.sampled_from(STATUSES)), discounts=draw(st.lists(coupons(), max_size=2)))


@settings(max_examples=150, deadline=None)
@given(subscriptions(), st.sampled_from(["stripe", "chartmogul"]))
def test_mrr_is_never_negative(sub, preset):
    assert subscription_mrr(sub, preset, NOW).minor >= 0


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 10**7).map(str), intervals, counts, st.integers(0, 500), st.integers(1, 20))
def test_per_unit_mrr_scales_with_quantity(unit, interval, count, quantity, factor):
    def mrr(q):
        return subscription_mrr(subscription(item(price(unit, interval=interval, count=count), q)), "stripe", NOW)

    # exact before rounding: k times the quantity is exactly k times the MRR
    assert mrr(quantity * factor).exact == mrr(quantity).exact * factor
    assert abs(mrr(quantity * factor).minor - mrr(quantity).minor * factor) <= factor


@settings(max_examples=150, deadline=None)
@given(subscriptions())
def test_presets_agree_without_discounts_and_nothing_paused(sub):
    sub["discounts"] = []
    for it in sub["items"]["data"]:
        it["discounts"] = []
    if sub["status"] == "paused":
        sub["status"] = "active"
    assert subscription_mrr(sub, "stripe", NOW).minor == subscription_mrr(sub, "chartmogul", NOW).minor


@settings(max_examples=150, deadline=None)
@given(subscriptions(), st.sampled_from(["stripe", "chartmogul"]))
def test_the_fast_path_and_the_explained_path_agree(sub, preset):
    # explain=True always takes the general, step-by-step path
    fast, explained = subscription_mrr(sub, preset, NOW), subscription_mrr(sub, preset, NOW, explain=True)
    assert (fast.minor, fast.exact, fast.counted) == (explained.minor, explained.exact, explained.counted)
    sub["discounts"] = []
    for it in sub["items"]["data"]:
        it["discounts"] = []
    fast, explained = subscription_mrr(sub, preset, NOW), subscription_mrr(sub, preset, NOW, explain=True)
    assert (fast.minor, fast.exact) == (explained.minor, explained.exact)


@settings(max_examples=200, deadline=None)
@given(subscriptions(), st.sampled_from(["stripe", "chartmogul"]), st.booleans())
def test_no_float_ever_takes_part(sub, preset, explain):
    from fractions import Fraction

    result = subscription_mrr(sub, preset, NOW, explain=explain)
    assert type(result.minor) is int
    assert type(result.exact) in (int, Fraction)  # a float here would mean inexact arithmetic


def test_integer_percent_and_amount_coupons_stay_exact():
    from fractions import Fraction

    sub = subscription(item(price("2000")), item(price("1000", pid="p2"), iid="si_2"),
                       discounts=[discount(coupon(10), did="di_a"), discount(coupon(amount=300, cid="B"), did="di_b")])
    result = subscription_mrr(sub, "stripe", NOW)
    assert result.exact == Fraction(2700 - 300) and type(result.exact) in (int, Fraction)
