"""Discounts: which coupons count toward MRR and what they take off (pure core).

Reads Stripe discount objects in every shape: the coupon at `discount.coupon` (before
2025-09-30) or `discount.source.coupon` (since), the `discounts` list or the legacy singular
`discount`. Preset `stripe` subtracts only `forever` coupons; `chartmogul` subtracts every
discount in effect now: started, not yet ended (`end`), and for a `once` coupon only while it
belongs to the current period (it was attached at or after the period start).

`percent_off` scales the amount; `amount_off` is per billing period and is normalised to a
month with the same factor as the price it discounts; nothing goes below 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from fractions import Fraction
from typing import Any

from worker.core.money import Exact, exact_text, format_minor, to_exact
from worker.errors import LifecycleError


class UnreadableDiscount(LifecycleError):
    """A stored discount whose coupon cannot be read."""


@dataclass(slots=True)
class Coupon:
    discount_id: str | None
    coupon_id: str | None
    name: str | None
    duration: str  # forever | once | repeating
    percent_off: Exact | None
    amount_off: Exact | None  # minor units of the subscription's currency, per period
    products: frozenset[str] | None  # applies_to.products; None: every product
    start: datetime | None
    end: datetime | None

    def label(self, currency: str) -> str:
        what = (f"{exact_text(self.percent_off)}% off" if self.percent_off is not None
                else f"{format_minor(self.amount_off or 0, currency)} off per period")
        return f"coupon {self.coupon_id or self.name or '?'} ({what}, {self.duration})"


def discount_list(obj: dict[str, Any]) -> list[Any]:
    """The `discounts` list, or the legacy singular `discount`, of a subscription or item."""
    found = obj.get("discounts")
    if found:
        return list(found)
    single = obj.get("discount")
    return [single] if single else []


def read_coupon(discount: Any, currency: str, owner: str) -> Coupon | None:
    """The discount's coupon; None when the coupon has no amount in this currency."""
    if not isinstance(discount, dict):
        raise UnreadableDiscount(
            f"Discount {discount!r} on {owner} is stored without its coupon.",
            fix="Run `stripe-lifecycle sync --full` so discounts are stored expanded.",
        )
    coupon = discount.get("coupon") or (discount.get("source") or {}).get("coupon")
    if discount.get("object") == "coupon":
        coupon, discount = discount, {}
    if not isinstance(coupon, dict):
        raise UnreadableDiscount(
            f"Discount {discount.get('id')} on {owner} is stored without its coupon.",
            fix="Run `stripe-lifecycle sync --full` so coupons are stored expanded.",
        )
    return Coupon(
        discount_id=discount.get("id"),
        coupon_id=coupon.get("id"),
        name=coupon.get("name"),
        duration=coupon.get("duration") or "forever",
        percent_off=to_exact(coupon["percent_off"]) if coupon.get("percent_off") is not None else None,
        amount_off=_amount_off(coupon, currency),
        products=_products(coupon),
        start=_time(discount.get("start")),
        end=_time(discount.get("end")),
    )


def _amount_off(coupon: dict[str, Any], currency: str) -> Fraction | None:
    if coupon.get("amount_off") is None:
        return None
    if (coupon.get("currency") or currency).lower() == currency.lower():
        return to_exact(coupon["amount_off"])
    option = (coupon.get("currency_options") or {}).get(currency.lower()) or {}
    if option.get("amount_off") is not None:
        return to_exact(option["amount_off"])
    return 0  # Stripe cannot apply it to this currency


def _products(coupon: dict[str, Any]) -> frozenset[str] | None:
    products = (coupon.get("applies_to") or {}).get("products")
    return frozenset(products) if products else None


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromtimestamp(int(value), tz=timezone.utc)


def counts(coupon: Coupon, preset: str, now: datetime, period_start: datetime | None) -> tuple[bool, str]:
    """Whether the preset subtracts this coupon now, and why (for the explanation)."""
    if coupon.start is not None and coupon.start > now:
        return False, "not started yet"
    if preset == "stripe":
        if coupon.duration != "forever":
            return False, f"preset stripe counts only forever coupons, not {coupon.duration}"
        return True, "forever, counted by preset stripe"
    if coupon.end is not None and coupon.end <= now:
        return False, "already ended"
    if coupon.duration == "once" and period_start and coupon.start and coupon.start < period_start:
        return False, "a once coupon already used on an earlier period"
    return True, "in effect now"


def apply(amount: Fraction, coupon: Coupon, monthly_factor: Fraction) -> Fraction:
    """The monthly amount after this coupon, never below 0."""
    if coupon.percent_off is not None:
        return max(amount * (1 - Fraction(coupon.percent_off) / 100), 0)
    return max(amount - (coupon.amount_off or 0) * monthly_factor, 0)
