"""Prices: what one subscription item costs per billing period, and the monthly factor (pure core).

Reads Stripe's raw item JSON in both shapes: current (`item.price` with `recurring`,
`unit_amount_decimal`, `transform_quantity`) and legacy (`item.plan` with `interval`,
`amount_decimal`, `transform_usage`). All amounts are exact minor-unit `Fraction`s.

Multi-currency prices: a subscription in a currency other than the price's default is billed
from `price.currency_options[<its currency>]` (`unit_amount`, `unit_amount_decimal`, `tiers`,
`tax_behavior`), Stripe's "Prices in multiple currencies"; `price_terms(price, currency)` reads
that option, and a price without one for the subscription's currency is unreadable (never the
default amount labelled in another currency).

Tier rules (PRODUCT.md §5): `volume` charges every unit at the tier that holds the whole
quantity, plus that tier's `flat_amount`; `graduated` charges each tier's slice at its own
price, plus the `flat_amount` of every tier the quantity reaches. A quantity of 0 lies in the
first tier (its flat amount is charged), as Stripe bills it.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any

from worker.core.money import Exact, format_minor, to_exact
from worker.errors import LifecycleError

#: Months per billing interval unit: month ÷ count; year ÷ 12·count; week × 52/12; day × 365/12.
MONTHS_PER_UNIT = {"month": Fraction(1), "year": Fraction(12), "week": Fraction(12, 52),
                   "day": Fraction(12, 365)}


class UnreadablePrice(LifecycleError):
    """A stored subscription item whose price cannot be read."""


@dataclass(frozen=True)
class Tier:
    up_to: int | None  # None: the last, open-ended tier
    unit: Exact
    flat: Exact


@dataclass(slots=True)
class PriceTerms:
    """The parts of a Stripe price (or legacy plan) that MRR depends on."""

    id: str | None
    currency: str | None
    scheme: str  # per_unit | tiered
    unit: Exact
    tiers: tuple[Tier, ...]
    tiers_mode: str | None  # volume | graduated
    divide_by: int | None
    round_up: bool
    interval: str | None  # None: not recurring
    interval_count: int
    usage_type: str  # licensed | metered
    tax_behavior: str | None
    product: Any  # id, or the expanded product object
    lookup_key: str | None
    from_option: bool = False  # amounts read from `currency_options` (not the default currency)

    @property
    def metered(self) -> bool:
        return self.usage_type == "metered"


def price_of(item: dict[str, Any]) -> dict[str, Any]:
    """The item's price object, or its legacy `plan`; an id alone is unreadable."""
    price = item.get("price") or item.get("plan")
    if not isinstance(price, dict):
        raise UnreadablePrice(
            f"Subscription item {item.get('id')} has no expanded price ({price!r}).",
            fix="Run `stripe-lifecycle sync --full` so the price is stored with the item.",
        )
    return price


def price_terms(price: dict[str, Any], currency: str | None = None) -> PriceTerms:
    """Read a price (current shape) or plan (legacy shape) into `PriceTerms`, in `currency`
    (the subscription's) when given: its `currency_options` entry when that is not the
    price's default currency."""
    option = currency_option(price, currency) if currency else None
    if option is not None:
        price = {**price, "currency": currency, "unit_amount": option.get("unit_amount"),
                 "unit_amount_decimal": option.get("unit_amount_decimal"), "tiers": option.get("tiers"),
                 "tax_behavior": option.get("tax_behavior") or price.get("tax_behavior")}
    recurring = price.get("recurring")
    if price.get("object") == "plan" or ("interval" in price and recurring is None):
        recurring = {"interval": price.get("interval"), "interval_count": price.get("interval_count"),
                     "usage_type": price.get("usage_type")}
    recurring = recurring or {}
    transform = price.get("transform_quantity") or price.get("transform_usage") or {}
    return PriceTerms(
        id=price.get("id"),
        currency=price.get("currency"),
        scheme=price.get("billing_scheme") or "per_unit",
        unit=_amount(price, "unit_amount") if "unit_amount" in price or "unit_amount_decimal" in price
        else _amount(price, "amount"),
        tiers=tuple(_tier(t) for t in price.get("tiers") or ()),
        tiers_mode=price.get("tiers_mode"),
        divide_by=int(transform["divide_by"]) if transform.get("divide_by") else None,
        round_up=transform.get("round") == "up",
        interval=recurring.get("interval"),
        interval_count=int(recurring.get("interval_count") or 1),
        usage_type=recurring.get("usage_type") or "licensed",
        tax_behavior=price.get("tax_behavior"),
        product=price.get("product"),
        lookup_key=price.get("lookup_key"),
        from_option=option is not None,
    )


def currency_option(price: dict[str, Any], currency: str) -> dict[str, Any] | None:
    """The price's option for `currency` when that is not its default currency, else None;
    `UnreadablePrice` when the price has no amount in that currency."""
    default = price.get("currency")
    if not isinstance(default, str) or default.lower() == currency.lower():
        return None
    options = price.get("currency_options")
    option = options.get(currency.lower()) if isinstance(options, dict) else None
    if not isinstance(option, dict):
        raise UnreadablePrice(
            f"Price {price.get('id')} is in {default.upper()} and has no currency option for "
            f"{currency.upper()}, the subscription's currency.",
            fix="Run `stripe-lifecycle sync --full` (prices are read with `expand[]=currency_options`).",
        )
    return option


def _amount(obj: dict[str, Any], name: str) -> Fraction:
    """`name_decimal` (exact string) when present, else the integer `name`, else 0."""
    decimal = obj.get(f"{name}_decimal")
    if decimal not in (None, ""):
        return to_exact(str(decimal) if not isinstance(decimal, str) else decimal)
    value = obj.get(name)
    return to_exact(value) if value is not None else 0


def _tier(raw: dict[str, Any]) -> Tier:
    up_to = raw.get("up_to")
    return Tier(up_to=None if up_to in (None, "inf") else int(up_to),
                unit=_amount(raw, "unit_amount"), flat=_amount(raw, "flat_amount"))


def monthly_factor(terms: PriceTerms) -> int | Fraction:
    """Multiply a per-period amount by this to get the monthly amount (1 for monthly prices)."""
    factor = interval_factor(terms.interval or "", max(terms.interval_count, 1))
    if factor is None:
        raise UnreadablePrice(
            f"Price {terms.id} has the unknown billing interval {terms.interval!r}.",
            fix="Expected day, week, month or year; re-sync the price with `stripe-lifecycle sync --full`.",
        )
    return factor


@lru_cache(maxsize=256)
def interval_factor(interval: str, count: int) -> int | Fraction | None:
    months = MONTHS_PER_UNIT.get(interval)
    if months is None:
        return None
    factor = 1 / (months * count)
    return int(factor) if factor.denominator == 1 else factor


@lru_cache(maxsize=256)
def interval_ratio(interval: str, count: int) -> tuple[int, int] | None:
    """`interval_factor` as (numerator, denominator) ints, for integer-only arithmetic."""
    factor = interval_factor(interval, count)
    return None if factor is None else (factor.numerator, factor.denominator)


def factor_text(terms: PriceTerms) -> str:
    """The monthly factor as PRODUCT.md §5 states it: `÷ 3`, `÷ 12`, `× 52/12 ÷ 2`, …"""
    base = {"month": "", "year": "÷ 12", "week": "× 52/12", "day": "× 365/12"}.get(terms.interval or "", "?")
    if terms.interval == "year" and terms.interval_count > 1:
        return f"÷ (12·{terms.interval_count})"
    count = f"÷ {terms.interval_count}" if terms.interval_count > 1 or not base else ""
    return " ".join(p for p in (base, count) if p)


def describe_interval(terms: PriceTerms) -> str:
    count = terms.interval_count
    return f"every {terms.interval}" if count == 1 else f"every {count} {terms.interval}s"


def transformed_quantity(terms: PriceTerms, quantity: int, lines: list[str] | None) -> int:
    """Apply `transform_quantity` (divide, then round up or down as the price says)."""
    if not terms.divide_by or terms.scheme != "per_unit":
        return quantity
    result = -(-quantity // terms.divide_by) if terms.round_up else quantity // terms.divide_by
    if lines is not None:
        how = "up" if terms.round_up else "down"
        lines.append(f"    transform_quantity: {quantity} ÷ {terms.divide_by}, rounded {how} = {result}")
    return result


def period_amount(terms: PriceTerms, quantity: int, lines: list[str] | None = None) -> Fraction:
    """The item's charge for one billing period, exact, in minor units (before discounts)."""
    cur = terms.currency or ""
    if terms.scheme == "tiered":
        return _tiered(terms, quantity, lines)
    units = transformed_quantity(terms, quantity, lines)
    amount = terms.unit * units
    if lines is not None:
        lines.append(f"    per_unit {format_minor(terms.unit, cur)} × {units} = {format_minor(amount, cur)}")
    return amount


def _tiered(terms: PriceTerms, quantity: int, lines: list[str] | None) -> Fraction:
    if not terms.tiers:
        raise UnreadablePrice(
            f"Tiered price {terms.id} is stored without its tiers.",
            fix="Run `stripe-lifecycle sync --full` (prices are fetched with `expand[]=tiers`).",
        )
    if terms.tiers_mode == "volume":
        return _volume(terms, quantity, lines)
    return _graduated(terms, quantity, lines)


def _volume(terms: PriceTerms, quantity: int, lines: list[str] | None) -> Fraction:
    cur = terms.currency or ""
    tier = next((t for t in terms.tiers if t.up_to is None or quantity <= t.up_to), terms.tiers[-1])
    amount = tier.unit * quantity + tier.flat
    if lines is not None:
        bound = "∞" if tier.up_to is None else str(tier.up_to)
        lines.append(f"    tiered volume: quantity {quantity} in tier up to {bound}: "
                     f"{format_minor(tier.unit, cur)} × {quantity} + flat {format_minor(tier.flat, cur)}"
                     f" = {format_minor(amount, cur)}")
    return amount


def _graduated(terms: PriceTerms, quantity: int, lines: list[str] | None) -> Fraction:
    cur = terms.currency or ""
    total, below = 0, 0
    if lines is not None:
        lines.append(f"    tiered graduated, quantity {quantity}:")
    for tier in terms.tiers:
        top = quantity if tier.up_to is None else min(quantity, tier.up_to)
        units = max(top - below, 0)
        slice_amount = tier.unit * units + tier.flat
        total += slice_amount
        if lines is not None:
            bound = "∞" if tier.up_to is None else str(tier.up_to)
            lines.append(f"      tier up to {bound}: {format_minor(tier.unit, cur)} × {units}"
                         f" + flat {format_minor(tier.flat, cur)} = {format_minor(slice_amount, cur)}")
        if tier.up_to is None or quantity <= tier.up_to:
            break
        below = tier.up_to
    if lines is not None:
        lines.append(f"    tiers total = {format_minor(total, cur)}")
    return total
