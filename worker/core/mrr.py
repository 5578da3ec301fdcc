"""MRR per item, subscription and contact, with the working shown line by line (pure core).

PRODUCT.md §5. Exact arithmetic throughout (see `worker.core.money`); one half-even rounding
per subscription in its own currency, and one more per contact when several currencies are
converted into the reporting currency. `lines` (when asked for) explain every step: price ×
quantity, tier slices, `transform_quantity`, interval factor, each discount, the status rule,
taxes backed out, the rounding and FX — what `accounts --explain` prints.

Order of a subscription's steps: each item's period amount (in the subscription's currency:
a price's `currency_options` entry when that is not its default) → monthly (interval factor)
→ item-level discounts → subscription-level discounts, or, when the subscription has none of
its own, the customer's discount (`customer.discount`: Stripe's subscriptions inherit it) —
percent on each eligible item; amount shared among eligible items in proportion; a coupon
limited by `applies_to.products` only on those products → inclusive taxes backed out per item
→ sum → round. Metered items count 0; statuses outside the preset's counted set count 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from fractions import Fraction
from typing import Any, NamedTuple

from worker.core import discounts as disc
from worker.core.integer_mrr import integer_total
from worker.core.money import (
    FxTable,
    exact_text,
    format_minor,
    round_minor,
    round_ratio,
    to_exact,
)
from worker.core.pricing import (
    describe_interval,
    factor_text,
    monthly_factor,
    period_amount,
    price_of,
    price_terms,
)

PRESETS = ("stripe", "chartmogul")
COUNTED = {
    "stripe": frozenset({"active", "past_due"}),
    "chartmogul": frozenset({"active", "past_due", "paused"}),
}


class MrrResult(NamedTuple):
    """One subscription's MRR: rounded minor units, its currency, the explanation lines.

    The exact value before rounding is kept as `numerator`/`denominator` ints (`exact` builds
    the Fraction on demand), so the integer path allocates no Fraction per subscription."""

    minor: int
    currency: str
    lines: list[str]
    counted: bool = False  # status counted by the preset (even when the amount is 0)
    numerator: int = 0
    denominator: int = 1

    @property
    def exact(self) -> int | Fraction:
        """The exact MRR before the one rounding (minor units)."""
        return self.numerator if self.denominator == 1 else Fraction(self.numerator, self.denominator)


@dataclass(slots=True)
class _Item:
    id: str | None
    product: str | None
    factor: int | Fraction
    amount: int | Fraction  # monthly, exact minor units
    tax_divisor: int | Fraction = 1
    tax_note: str = ""


def subscription_items(sub: dict[str, Any]) -> list[dict[str, Any]]:
    """Every item; a legacy subscription without `items` yields one from its `plan`/`quantity`."""
    items = (sub.get("items") or {}).get("data") if isinstance(sub.get("items"), dict) else sub.get("items")
    if items:
        return list(items)
    if sub.get("plan"):
        return [{"id": None, "plan": sub["plan"], "quantity": sub.get("quantity", 1)}]
    return []


def subscription_currency(sub: dict[str, Any]) -> str:
    """The subscription's currency; 2017-era subscriptions carry it only on their plan/prices."""
    if sub.get("currency"):
        return sub["currency"].lower()
    for source in (sub.get("plan"), *(price_of_or_none(i) for i in subscription_items(sub))):
        if isinstance(source, dict) and source.get("currency"):
            return source["currency"].lower()
    return ""


def price_of_or_none(item: dict[str, Any]) -> Any:
    return item.get("price") or item.get("plan")


def subscription_mrr(sub: dict[str, Any], preset: str, now: datetime, *, explain: bool = False,
                     customer_discount: dict[str, Any] | None = None) -> MrrResult:
    """MRR of one subscription (raw Stripe JSON, either shape) under `preset` as of `now`.
    `customer_discount`: its customer's `discount` (applies when the subscription has no
    subscription-level discount of its own).

    Without `explain`, the common shapes go through `integer_total` (ints only); the rest, and
    every explained computation, through the general step-by-step path below."""
    counted = COUNTED.get(preset)
    if counted is None:
        raise ValueError(f"unknown MRR preset {preset!r}")
    currency = sub.get("currency")
    currency = currency.lower() if type(currency) is str and currency else subscription_currency(sub)
    status = sub.get("status") or ""
    if not explain:
        if status not in counted:
            return MrrResult(0, currency, [], False)
        fast = integer_total(sub, currency, preset, now, customer_discount)
        if fast is not None:
            num, den = fast
            return MrrResult(round_ratio(num, den), currency, [], True, num, den)
    return _general(sub, preset, now, currency, status, [] if explain else None, customer_discount)


def _general(sub: dict[str, Any], preset: str, now: datetime, currency: str, status: str,
             lines: list[str] | None, customer_discount: dict[str, Any] | None = None) -> MrrResult:
    """The step-by-step exact computation (Fractions), explained line by line when asked."""
    if lines is not None:
        lines.append(f"subscription {sub.get('id')} ({status}, {currency.upper()}, customer {_customer_id(sub)}):")
    if status not in COUNTED[preset]:
        if lines is not None:
            lines.append(f"  status {status} is not counted under preset {preset} (counted: "
                         f"{', '.join(sorted(COUNTED[preset]))}) → MRR 0")
        return MrrResult(0, currency, lines or [], False)
    raws = subscription_items(sub)
    # only a chartmogul `once` coupon needs the period start
    discounted = _has_discounts(sub, raws) or bool(customer_discount)
    period_start = _period_start(sub, raws) if preset == "chartmogul" and discounted else None
    items = [_item(sub, raw, currency, preset, now, period_start, lines) for raw in raws]
    items = [i for i in items if i is not None]
    if sub.get("discounts") or sub.get("discount") or customer_discount:
        _subscription_discounts(sub, raws, items, currency, preset, now, period_start, lines, customer_discount)
    exact = _back_out_taxes(items, currency, lines)
    minor = round_minor(exact)
    if lines is not None:
        lines.append(f"  status {status} counted under preset {preset}")
        lines.append(f"  subscription MRR = {format_minor(exact, currency)} → {format_minor(minor, currency)}"
                     " (rounded half-even, once)")
    return MrrResult(minor, currency, lines or [], True, exact.numerator, exact.denominator)


def _customer_id(sub: dict[str, Any]) -> str | None:
    customer = sub.get("customer")
    return customer.get("id") if isinstance(customer, dict) else customer


def _has_discounts(sub: dict[str, Any], raws: list[dict[str, Any]]) -> bool:
    return bool(sub.get("discounts") or sub.get("discount") or any(r.get("discounts") or r.get("discount")
                                                                    for r in raws))


def _period_start(sub: dict[str, Any], raws: list[dict[str, Any]]) -> datetime | None:
    starts = [i.get("current_period_start") for i in raws]
    starts = [s for s in starts if s is not None] or [sub.get("current_period_start")]
    value = min((s for s in starts if s is not None), default=None)
    return datetime.fromtimestamp(int(value), tz=timezone.utc) if value is not None else None


def _item(sub: dict[str, Any], raw: dict[str, Any], currency: str, preset: str, now: datetime,
          period_start: datetime | None, lines: list[str] | None) -> _Item | None:
    terms = price_terms(price_of(raw), currency)
    product = terms.product.get("id") if isinstance(terms.product, dict) else terms.product
    if lines is not None:
        every = describe_interval(terms) if terms.interval else "one-time"
        option = f", {currency.upper()} amounts from its currency_options" if terms.from_option else ""
        lines.append(f"  item {raw.get('id')}: price {terms.id} ({every}{option})")
    if terms.metered or terms.interval is None:
        if lines is not None:
            why = "metered (usage-based)" if terms.metered else "not recurring"
            lines.append(f"    {why}: not counted → 0")
        return None
    quantity = raw.get("quantity")
    quantity = 1 if quantity is None else int(quantity)
    amount = period_amount(terms, quantity, lines)
    factor = monthly_factor(terms)
    item = _Item(raw.get("id"), product, factor, amount * factor)
    if lines is not None:
        lines.append(f"    monthly ({describe_interval(terms)}): {format_minor(amount, currency)} {factor_text(terms)}"
                     f" = {format_minor(item.amount, currency)}")
    for discount in disc.discount_list(raw) if raw.get("discounts") or raw.get("discount") else ():
        coupon = disc.read_coupon(discount, currency, f"item {raw.get('id')}")
        if coupon.products is not None and product not in coupon.products:
            if lines is not None:
                lines.append(f"    {coupon.label(currency)}: not subtracted (applies only to products "
                             f"{', '.join(sorted(coupon.products))})")
            continue
        item.amount = _apply_one(coupon, [item], currency, preset, now, period_start, lines, factor)
    if raw.get("tax_rates") or sub.get("default_tax_rates"):
        item.tax_divisor, item.tax_note = _inclusive_taxes(sub, raw, terms.tax_behavior)
    return item


def _ratio(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def _subscription_discounts(sub: dict[str, Any], raws: list[dict[str, Any]], items: list[_Item], currency: str,
                            preset: str, now: datetime, period_start: datetime | None,
                            lines: list[str] | None, customer_discount: dict[str, Any] | None = None) -> None:
    item_ids = {d.get("id") for raw in raws for d in disc.discount_list(raw)
                if isinstance(d, dict)}
    factor = items[0].factor if items else 1
    found = [d for d in disc.discount_list(sub)
             if not (isinstance(d, dict) and d.get("id") and d.get("id") in item_ids)]  # item-level: done
    owner = f"subscription {sub.get('id')}"
    if customer_discount and not found:
        found, owner = [customer_discount], f"customer {_customer_id(sub)}"
        if lines is not None:
            lines.append(f"  customer-level discount of {_customer_id(sub)} (the subscription has no "
                         "discount of its own, so it inherits the customer's; on every eligible item):")
    elif lines is not None and found:
        lines.append("  subscription-level discounts (on every eligible item):")
        if customer_discount:
            lines.append(f"    customer-level discount of {_customer_id(sub)}: not applied (the "
                         "subscription's own discounts take precedence)")
    for discount in found:
        coupon = disc.read_coupon(discount, currency, owner)
        eligible = [i for i in items if coupon.products is None or i.product in coupon.products]
        if lines is not None and coupon.products is not None:
            lines.append(f"    coupon {coupon.coupon_id} applies only to products "
                         f"{', '.join(sorted(coupon.products))}: items {', '.join(str(i.id) for i in eligible) or 'none'}")
        _apply_one(coupon, eligible, currency, preset, now, period_start, lines, factor)


def _apply_one(coupon: disc.Coupon, eligible: list[_Item], currency: str, preset: str, now: datetime,
               period_start: datetime | None, lines: list[str] | None, factor: Fraction) -> Fraction:
    """Apply one coupon to the eligible items (amounts shared in proportion); returns their total."""
    before = sum((i.amount for i in eligible), 0)
    ok, why = disc.counts(coupon, preset, now, period_start)
    if not ok or not eligible:
        if lines is not None:
            lines.append(f"    {coupon.label(currency)}: not subtracted ({why if not ok else 'no eligible item'})")
        return before
    after = disc.apply(before, coupon, factor)
    for item in eligible:
        item.amount = item.amount * Fraction(after) / before if before else 0
    if lines is not None:
        normalised = "" if coupon.percent_off is not None else f", amount × {_ratio(factor)} per month"
        lines.append(f"    {coupon.label(currency)} ({why}{normalised}): {format_minor(before, currency)}"
                     f" → {format_minor(after, currency)}")
    return after


def _inclusive_taxes(sub: dict[str, Any], raw: dict[str, Any], tax_behavior: str | None) -> tuple[Fraction, str]:
    """1 + the inclusive tax rates that apply to the item (item rates override the defaults)."""
    rates = raw.get("tax_rates") or sub.get("default_tax_rates") or []
    inclusive = [r for r in rates if isinstance(r, dict)
                 and (r.get("inclusive") or tax_behavior == "inclusive") and r.get("percentage") is not None]
    if not inclusive:
        return 1, ""
    percent = sum((to_exact(r["percentage"]) for r in inclusive), Fraction(0))
    names = ", ".join(f"{r.get('display_name') or r.get('id')} {exact_text(to_exact(r['percentage']))}%"
                      for r in inclusive)
    return 1 + percent / 100, names


def _back_out_taxes(items: list[_Item], currency: str, lines: list[str] | None) -> Fraction:
    total: int | Fraction = 0
    for item in items:
        if item.tax_divisor == 1:
            total += item.amount
            continue
        net = Fraction(item.amount) / item.tax_divisor
        if lines is not None and item.tax_note:
            lines.append(f"  item {item.id}: inclusive tax ({item.tax_note}) backed out: "
                         f"{format_minor(item.amount, currency)} ÷ {exact_text(item.tax_divisor)} = "
                         f"{format_minor(net, currency)}")
        total += net
    return total


@dataclass
class ContactMrr:
    """A contact's MRR in `currency`, and per currency before FX (counted subscriptions only)."""

    minor: int
    currency: str
    native: dict[str, int] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)


def contact_mrr(results: Iterable[MrrResult], fx: FxTable, *, contact: str = "the contact",
                explain: bool = False) -> ContactMrr:
    """Sum a contact's subscriptions: in their one currency, else converted to the reporting one.

    `native` holds one entry per currency of a *counted* subscription (0 included), so an
    empty `native` means no counted subscription remains (churn, for movements)."""
    native: dict[str, int] = {}
    currencies: set[str] = set()
    for r in results:
        currencies.add(r.currency)
        if r.counted:
            native[r.currency] = native.get(r.currency, 0) + r.minor
    if len(currencies) == 1:
        (currency,) = currencies
        total = sum(native.values())
        lines = [f"contact MRR = {format_minor(total, currency)} (all subscriptions in {currency.upper()})"
                 ] if explain else []
        return ContactMrr(total, currency, native, lines)
    if not currencies:
        lines = [f"contact MRR = {format_minor(0, fx.currency)} (no subscriptions)"] if explain else []
        return ContactMrr(0, fx.currency, native, lines)
    if not explain:
        return ContactMrr(fx.rounded_total(native, subject=contact), fx.currency, native, [])
    exact = fx.value(native, subject=contact)
    minor = round_minor(exact)
    lines = []
    if explain:
        for cur, amount in sorted(native.items()):
            rate = fx.rate(cur, subject=contact)
            lines.append(f"FX: {format_minor(amount, cur)} × {exact_text(rate)} = "
                         f"{format_minor(fx.convert_minor(amount, cur, subject=contact), fx.currency)}")
        lines.append(f"contact MRR = {format_minor(exact, fx.currency)} → {format_minor(minor, fx.currency)}"
                     f" (several currencies, reported in {fx.currency.upper()}, rounded half-even)")
    return ContactMrr(minor, fx.currency, native, lines)
