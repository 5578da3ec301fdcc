"""MRR of the common subscription shapes in integer arithmetic only (pure core).

Why: `worker.core.mrr` computes with exact `Fraction`s built step by step, which is the
readable reference (and what `accounts --explain` prints) but allocates several objects per
item. Almost every real subscription is simpler: per-unit or tiered prices with whole
minor-unit amounts, an integer quantity, a month/year/week/day interval and at most a few
percent or amount coupons. Here such a subscription's exact MRR is carried as one
(numerator, denominator) pair of ints, so nothing is rounded early and nothing is allocated
per step; `mrr.subscription_mrr` rounds it once, half to even, exactly as before.

Prices in another currency than their default are read from their `currency_options` entry,
and a subscription without discounts of its own takes its customer's, as in the general path.
Anything else — decimal amounts (`"12.5"`), legacy `plan` shapes, inclusive tax rates,
coupons restricted to products, a chartmogul `once` coupon, a malformed field — makes
`integer_total` return None and the general path takes over (and reports any error in its
own words). Property tests hold both paths to the same `minor` and exact value.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Any

from worker.core.pricing import interval_ratio

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)
#: timestamps the general path can turn into datetimes on every platform (else: general path)
_TS_MIN, _TS_MAX = -(2**31), 2**37
_NO_DISCOUNT: dict[str, Any] = {}


class _Unusual(Exception):
    """This subscription needs the general path."""


def integer_total(sub: dict[str, Any], currency: str, preset: str, now: datetime,
                  customer_discount: dict[str, Any] | None = None) -> tuple[int, int] | None:
    """The exact MRR of a counted subscription as (numerator, denominator > 0), or None when
    the general path must compute it. `currency` is the subscription's (lower case);
    `customer_discount` its customer's discount (used when it has none of its own)."""
    try:
        return _total(sub, currency, preset, now, customer_discount)
    except Exception:  # noqa: BLE001 — unusual input: the general path reads it or reports it
        return None


def _total(sub: dict[str, Any], currency: str, preset: str, now: datetime,
           customer_discount: dict[str, Any] | None) -> tuple[int, int]:
    items = sub.get("items")
    raws = items.get("data") if type(items) is dict else None
    if not raws or type(raws) is not list:
        raise _Unusual  # legacy shapes (`plan` on the subscription, items as a bare list)
    if preset != "stripe" and (customer_discount or _has_discounts(sub, raws)):
        _check_period_start(sub, raws)
    num, den = 0, 1
    first: tuple[int, int] | None = None  # monthly factor of the first counted item
    for raw in raws:
        price = raw.get("price")
        if type(price) is not dict or not price:
            raise _Unusual
        if price.get("currency") != currency:
            price = _in_currency(price, currency)
        recurring = price.get("recurring")
        if type(recurring) is not dict or price.get("object") == "plan":
            raise _Unusual
        count = recurring.get("interval_count") or 1
        if type(count) is not int:
            count = int(count)
        if (recurring.get("usage_type") or "licensed") == "metered":
            _period_amount(price, 1)  # read it all the same: an unreadable price is still reported
            continue
        fn, fd = interval_ratio(recurring.get("interval") or "", count if count > 1 else 1)
        quantity = raw.get("quantity")
        if type(quantity) is not int:
            quantity = 1 if quantity is None else int(quantity)
        n, d = _period_amount(price, quantity) * fn, fd
        if raw.get("discounts") or raw.get("discount"):
            for discount in _discount_list(raw):
                effect = _effect(discount, currency, preset, now)
                if effect is not None:
                    n, d = _apply(n, d, effect, fn, fd)
        if raw.get("tax_rates") or sub.get("default_tax_rates"):
            _no_inclusive_tax(raw.get("tax_rates") or sub.get("default_tax_rates"), price.get("tax_behavior"))
        if first is None:
            first = (fn, fd)
        if d == den:
            num += n
        else:
            num, den = num * d + n * den, den * d
    if sub.get("discounts") or sub.get("discount") or customer_discount:
        num, den = _subscription_discounts(sub, raws, first, num, den, currency, preset, now, customer_discount)
    return num, den


def _in_currency(price: dict[str, Any], currency: str) -> dict[str, Any]:
    """The price's amounts in the subscription's currency: its `currency_options` entry when
    that is not the default currency (no entry, or anything odd: the general path says why)."""
    default = price.get("currency")
    if type(default) is str and default.lower() == currency:
        return price
    option = (price.get("currency_options") or _NO_DISCOUNT).get(currency)
    if type(option) is not dict:
        raise _Unusual
    return {**price, "unit_amount": option.get("unit_amount"), "unit_amount_decimal": option.get("unit_amount_decimal"),
            "tiers": option.get("tiers"), "tax_behavior": option.get("tax_behavior") or price.get("tax_behavior")}


def _has_discounts(sub: dict[str, Any], raws: list[Any]) -> bool:
    return bool(sub.get("discounts") or sub.get("discount")
                or any(r.get("discounts") or r.get("discount") for r in raws))


def _check_period_start(sub: dict[str, Any], raws: list[Any]) -> None:
    """The general path reads the period start for chartmogul coupons: it must be readable."""
    starts = [s for s in (r.get("current_period_start") for r in raws) if s is not None]
    for start in starts or [sub.get("current_period_start")]:
        if start is not None:
            _timestamp(start)


def _period_amount(price: dict[str, Any], quantity: int) -> int:
    """One billing period's charge in whole minor units (PRODUCT.md §5), or `_Unusual`."""
    scheme = price.get("billing_scheme") or "per_unit"
    unit = _price_unit(price)
    transform = price.get("transform_quantity") or price.get("transform_usage")
    divide_by = transform.get("divide_by") if transform else None
    if divide_by and type(divide_by) is not int:
        divide_by = int(divide_by)
    if scheme == "per_unit":
        if price.get("tiers"):
            raise _Unusual
        if divide_by:
            quantity = -(-quantity // divide_by) if transform.get("round") == "up" else quantity // divide_by
        return unit * quantity
    if scheme != "tiered":
        raise _Unusual
    tiers = [_tier(t) for t in price.get("tiers") or ()]
    if not tiers:
        raise _Unusual
    if price.get("tiers_mode") == "volume":
        for up_to, unit, flat in tiers:
            if up_to is None or quantity <= up_to:
                return unit * quantity + flat
        up_to, unit, flat = tiers[-1]
        return unit * quantity + flat
    total, below = 0, 0
    for up_to, unit, flat in tiers:
        top = quantity if up_to is None else min(quantity, up_to)
        total += unit * max(top - below, 0) + flat
        if up_to is None or quantity <= up_to:
            break
        below = up_to
    return total


def _price_unit(price: dict[str, Any]) -> int:
    """`unit_amount_decimal` when a whole number, else `unit_amount`; 0 when both are null."""
    decimal = price.get("unit_amount_decimal")
    if type(decimal) is str and decimal.isdigit():
        return int(decimal)
    if decimal is None or decimal == "":
        value = price.get("unit_amount")
        if type(value) is int:
            return value
        if value is None and ("unit_amount" in price or "unit_amount_decimal" in price):
            return 0
    raise _Unusual  # a decimal amount, or a legacy `amount`


def _tier(raw: dict[str, Any]) -> tuple[int | None, int, int]:
    up_to = raw.get("up_to")
    if up_to is not None and type(up_to) is not int:
        up_to = None if up_to == "inf" else int(up_to)
    return up_to, _whole(raw, "unit_amount_decimal", "unit_amount"), _whole(raw, "flat_amount_decimal", "flat_amount")


def _whole(obj: dict[str, Any], decimal_key: str, int_key: str) -> int:
    decimal = obj.get(decimal_key)
    if type(decimal) is str and decimal.isdigit():
        return int(decimal)
    if decimal is None or decimal == "":
        value = obj.get(int_key)
        if value is None:
            return 0
        if type(value) is int:
            return value
    raise _Unusual


def _no_inclusive_tax(rates: Any, tax_behavior: Any) -> None:
    """Exclusive rates change nothing; an inclusive one needs the general path to back it out."""
    for rate in rates:
        if isinstance(rate, dict) and (rate.get("inclusive") or tax_behavior == "inclusive") \
                and rate.get("percentage") is not None:
            raise _Unusual


def _discount_list(obj: dict[str, Any]) -> Any:
    found = obj.get("discounts")
    if found:
        return found
    single = obj.get("discount")
    return [single] if single else ()


def _subscription_discounts(sub: dict[str, Any], raws: list[Any], first: tuple[int, int] | None, num: int,
                            den: int, currency: str, preset: str, now: datetime,
                            customer_discount: dict[str, Any] | None = None) -> tuple[int, int]:
    """Subscription-level coupons on the whole total (every item is eligible: coupons limited
    to some products go to the general path); the customer's discount instead when the
    subscription has none of its own. An amount is normalised with the first counted item's
    factor, and a total of 0 stays 0, as in the general path."""
    item_ids = {d.get("id") for raw in raws for d in _discount_list(raw) if isinstance(d, dict)}
    own = [d for d in _discount_list(sub)
           if not (isinstance(d, dict) and d.get("id") and d.get("id") in item_ids)]  # item-level: done
    for discount in own or ([customer_discount] if customer_discount else ()):
        effect = _effect(discount, currency, preset, now)
        if effect is not None and first is not None and num != 0:
            num, den = _apply(num, den, effect, *first)
    return num, den


def _apply(num: int, den: int, effect: tuple[int, int, int | None], fn: int, fd: int) -> tuple[int, int]:
    """num/den after one coupon, never below 0: × (kn/kd) for a percentage, − amount × factor."""
    kn, kd, amount = effect
    if amount is None:
        num, den = num * kn, den * kd
    elif fd == 1:
        num = num - amount * fn * den
    else:
        num, den = num * fd - amount * fn * den, den * fd
    return (0, 1) if num < 0 else (num, den)


def _effect(discount: Any, currency: str, preset: str, now: datetime) -> tuple[int, int, int | None] | None:
    """The coupon as (kn, kd, amount off per period or None), or None when the preset does not
    subtract it now (`disc.counts`)."""
    if type(discount) is not dict:
        raise _Unusual
    coupon = discount.get("coupon") or (discount.get("source") or _NO_DISCOUNT).get("coupon")
    if discount.get("object") == "coupon":
        coupon, discount = discount, _NO_DISCOUNT
    if type(coupon) is not dict:
        raise _Unusual
    applies_to = coupon.get("applies_to")
    if applies_to and (type(applies_to) is not dict or applies_to.get("products")):
        raise _Unusual  # limited to some products: the general path picks the eligible items
    percent, amount = coupon.get("percent_off"), _amount_off(coupon, currency)
    if percent is not None:
        pn, pd = _ratio(percent)
        effect = (100 * pd - pn, 100 * pd, None)
    else:
        effect = (1, 1, amount)
    start, end = _timestamp(discount.get("start")), _timestamp(discount.get("end"))
    now_us = (now - _EPOCH) // _MICROSECOND if start is not None or end is not None else 0
    if start is not None and start * 1_000_000 > now_us:
        return None  # not started yet
    duration = coupon.get("duration") or "forever"
    if preset == "stripe":
        return effect if duration == "forever" else None
    if end is not None and end * 1_000_000 <= now_us:
        return None  # already ended
    if duration == "once":
        raise _Unusual  # needs the period start
    return effect


def _amount_off(coupon: dict[str, Any], currency: str) -> int:
    amount = coupon.get("amount_off")
    if amount is None:
        return 0
    if (coupon.get("currency") or currency).lower() != currency:
        option = (coupon.get("currency_options") or _NO_DISCOUNT).get(currency) or _NO_DISCOUNT
        amount = option.get("amount_off")
        if amount is None:
            return 0  # Stripe cannot apply it to this currency
    if type(amount) is not int:
        raise _Unusual
    return amount


def _ratio(value: Any) -> tuple[int, int]:
    if type(value) is int:
        return value, 1
    if type(value) is float:
        return _float_ratio(value)
    raise _Unusual


@lru_cache(maxsize=1024)
def _float_ratio(value: float) -> tuple[int, int]:
    """A JSON float (`percent_off: 33.3`) read through its shortest text, as `to_exact` does."""
    exact = Fraction(Decimal(repr(value)))
    return exact.numerator, exact.denominator


def _timestamp(value: Any) -> int | None:
    if value is None:
        return None
    if type(value) is not int or not _TS_MIN <= value <= _TS_MAX:
        raise _Unusual
    return value
