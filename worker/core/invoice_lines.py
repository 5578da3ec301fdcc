"""Reading subscription invoices in both API shapes into MRR facts (pure core).

Current shape (API ≥ 2025-03-31): the invoice's subscription at
`parent.subscription_details.subscription`; a line's item at
`parent.subscription_item_details.subscription_item` (with `proration`), its price id at
`pricing.price_details.price`, taxes in `taxes` (`tax_behavior`). A proration billed as a
pending invoice item (`parent.invoice_item_details`, `proration: true`) names no item; it is
keyed by its price. Older shape: `subscription` on the invoice and on the line,
`subscription_item`, `proration`, the full `price` (or `plan`) on the line, `tax_amounts`
(`inclusive`).

`invoice_facts(raw, price_of)` checks an invoice and returns its subscription lines, or raises
`UnreadableInvoice` with the reason the sync quarantines it under. Drafts and voided invoices
bill nothing and give no lines; lines that are not a subscription's (one-off invoice items) are
left out.

The monthly value of a line (`line_monthly`), the rule `docs/mrr.md` states:
- a regular line: (amount − discount amounts − inclusive taxes) × the price's monthly factor
  (÷3 quarterly, ÷12 yearly, ×52/12 weekly …), exactly; never below 0;
- a proration line with a positive amount: the full-period amount of its quantity at its price
  (today's per-item rule: per unit, tiers, transform_quantity), reduced at the line's own
  discount rate (discount ÷ amount), × the monthly factor

Discount amounts count as today's MRR counts coupons: preset `stripe` only those of `forever`
coupons, `chartmogul` all of them (the coupon's duration is read from the line's expanded
`discounts`, or by its id). — ChartMogul's "the new plan from the
  date of the change" without letting the partial period's length into MRR; a credit line
  (amount ≤ 0) only ends the old terms of its item.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

from worker.core.pricing import monthly_factor, period_amount, price_terms
from worker.errors import LifecycleError

Json = dict[str, Any]
PriceLookup = Callable[[str], Json | None]
CouponLookup = Callable[[str], Json | None]
BILLED = ("open", "paid", "uncollectible")


class UnreadableInvoice(LifecycleError):
    """An invoice that cannot be read; the message is the quarantine reason."""


@dataclass(frozen=True)
class LineFact:
    subscription_id: str
    key: str  # the subscription item id, else "price:<id>"
    price: Json
    price_id: str
    embedded: bool  # the price came on the line (older shape), not from the synced prices
    quantity: int
    amount: int
    discounts: tuple[tuple[int, str | None], ...]  # (amount, coupon duration or None: unknown)
    inclusive_tax: int
    proration: bool
    start: datetime
    end: datetime

    def discount(self, preset: str) -> int:
        """The discount amounts that count under `preset`: `stripe` only `forever` coupons,
        `chartmogul` every one (a duration that cannot be read counts)."""
        return sum(amount for amount, duration in self.discounts
                   if preset != "stripe" or duration in ("forever", None))


@dataclass(frozen=True)
class InvoiceFacts:
    id: str
    subscription_id: str | None
    created: datetime
    status: str | None
    currency: str
    lines: tuple[LineFact, ...]


def _ts(value: Any, what: str) -> datetime:
    if type(value) is not int:
        raise UnreadableInvoice(f"{what} is not a Unix timestamp: {value!r}")
    return datetime.fromtimestamp(value, tz=UTC)


def _int(value: Any, what: str) -> int:
    if type(value) is not int:
        raise UnreadableInvoice(f"{what} is not an integer: {value!r}")
    return value


def _ref(value: Any) -> str | None:
    return value.get("id") if isinstance(value, dict) else value


def invoice_subscription(raw: Json) -> str | None:
    """The invoice's subscription id in either shape (None for a one-off invoice)."""
    details = ((raw.get("parent") or {}).get("subscription_details") or {}) if isinstance(raw.get("parent"), dict) else {}
    return _ref(details.get("subscription")) or _ref(raw.get("subscription"))


def invoice_facts(raw: Any, price_of: PriceLookup,
                  coupon_of: CouponLookup = lambda _id: None) -> InvoiceFacts:
    """The subscription lines of one invoice (see the module docstring), or UnreadableInvoice."""
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
        raise UnreadableInvoice("the invoice is not a JSON object with an id")
    iid = raw["id"]
    created = _ts(raw.get("created"), f"invoice {iid}'s `created`")
    currency = raw.get("currency")
    if not (isinstance(currency, str) and len(currency) == 3):
        raise UnreadableInvoice(f"invoice {iid} has no valid currency")
    lines = raw.get("lines")
    if not (isinstance(lines, dict) and isinstance(lines.get("data"), list)):
        raise UnreadableInvoice(f"invoice {iid} has no `lines` list")
    sub_id = invoice_subscription(raw)
    status = raw.get("status")
    if status not in BILLED:
        return InvoiceFacts(iid, sub_id, created, status, currency.lower(), ())
    facts = [fact for line in lines["data"]
             if (fact := _line(iid, sub_id, line, price_of, coupon_of)) is not None]
    return InvoiceFacts(iid, sub_id, created, status, currency.lower(), tuple(facts))


def _line(iid: str, sub_id: str | None, line: Any, price_of: PriceLookup,
          coupon_of: CouponLookup) -> LineFact | None:
    if not isinstance(line, dict):
        raise UnreadableInvoice(f"invoice {iid} has a line that is not an object")
    where = f"line {line.get('id')} of invoice {iid}"
    parent = line.get("parent") if isinstance(line.get("parent"), dict) else None
    if parent is not None:
        details = parent.get(parent.get("type") or "") or parent.get("subscription_item_details") or {}
        line_sub = _ref(details.get("subscription"))
        item = details.get("subscription_item")
        proration = bool(details.get("proration"))
        price_id = _ref(((line.get("pricing") or {}).get("price_details") or {}).get("price"))
        price = price_of(price_id) if price_id else None
        embedded = False
    else:
        line_sub = _ref(line.get("subscription")) or (sub_id if line.get("type") == "subscription" else None)
        item = _ref(line.get("subscription_item"))
        proration = bool(line.get("proration"))
        price = line.get("price") or line.get("plan")
        price_id = _ref(price)
        embedded = isinstance(price, dict)
        price = price if embedded else (price_of(price_id) if price_id else None)
    if not line_sub:
        return None  # a one-off invoice item: not a subscription's revenue
    if not isinstance(price, dict) or not (price.get("recurring") or price.get("interval")):
        raise UnreadableInvoice(f"{where}: its price {price_id!r} is unknown or not recurring")
    period = line.get("period")
    if not isinstance(period, dict):
        raise UnreadableInvoice(f"{where} has no `period`")
    return LineFact(
        subscription_id=line_sub, key=item or f"price:{price_id}", price=price, price_id=str(price_id),
        embedded=embedded,
        quantity=_int(line.get("quantity") if line.get("quantity") is not None else 1, f"{where}'s quantity"),
        amount=_int(line.get("amount"), f"{where}'s amount"),
        discounts=_discounts(line, where, coupon_of),
        inclusive_tax=_inclusive_tax(line, where), proration=proration,
        start=_ts(period.get("start"), f"{where}'s period start"),
        end=_ts(period.get("end"), f"{where}'s period end"))


def _discounts(line: Json, where: str, coupon_of: CouponLookup) -> tuple[tuple[int, str | None], ...]:
    """(amount, coupon duration) of each discount amount; the duration read from the line's
    expanded discounts (`coupon` or `source.coupon`), else from the coupon looked up by id."""
    durations: dict[str, str | None] = {}
    for disc in line.get("discounts") or []:
        if isinstance(disc, dict) and isinstance(disc.get("id"), str):
            coupon = disc.get("coupon") if "coupon" in disc else (disc.get("source") or {}).get("coupon")
            if isinstance(coupon, str):
                coupon = coupon_of(coupon)
            durations[disc["id"]] = coupon.get("duration") if isinstance(coupon, dict) else None
    found = []
    for amount in line.get("discount_amounts") or []:
        if isinstance(amount, dict):
            found.append((_int(amount.get("amount"), f"{where}'s discount amount"),
                          durations.get(_ref(amount.get("discount")) or "")))
    return tuple(found)


def _inclusive_tax(line: Json, where: str) -> int:
    total = 0
    for tax in line.get("taxes") or []:
        if isinstance(tax, dict) and tax.get("tax_behavior") == "inclusive":
            total += _int(tax.get("amount"), f"{where}'s tax amount")
    for tax in line.get("tax_amounts") or []:
        if isinstance(tax, dict) and tax.get("inclusive"):
            total += _int(tax.get("amount"), f"{where}'s tax amount")
    return total


def line_monthly(fact: LineFact, preset: str) -> Fraction:
    """The line's monthly value (minor units, exact) by the rule in the module docstring,
    counting the discounts `preset` counts (`LineFact.discount`)."""
    terms = price_terms(fact.price)
    if terms.metered:
        return Fraction(0)
    factor = monthly_factor(terms)
    if not fact.proration:
        return max(Fraction(fact.amount - fact.discount(preset) - fact.inclusive_tax), Fraction(0)) * factor
    if fact.amount <= 0:
        return Fraction(0)
    kept = Fraction(fact.amount - fact.discount(preset) - fact.inclusive_tax, fact.amount)
    return max(period_amount(terms, fact.quantity) * kept, Fraction(0)) * factor


def to_compact(facts: InvoiceFacts) -> Json:
    """What the store keeps of an invoice: its subscription lines as short lists (a full
    Stripe invoice is ~2 KB; a history of a million invoices would not fit a small database)."""
    return {"id": facts.id, "sub": facts.subscription_id, "created": int(facts.created.timestamp()),
            "status": facts.status, "currency": facts.currency,
            "lines": [[f.subscription_id, f.key, f.price_id, f.quantity, f.amount, [list(d) for d in f.discounts],
                       f.inclusive_tax,
                       int(f.proration), int(f.start.timestamp()), int(f.end.timestamp()),
                       f.price if f.embedded else None] for f in facts.lines]}


def from_compact(data: Json, price_of: PriceLookup) -> InvoiceFacts:
    """`to_compact`'s inverse, prices from `price_of` (or the one kept from the line)."""
    lines = []
    for sub, key, price_id, qty, amount, discounts, tax, proration, start, end, kept in data["lines"]:
        price = kept or price_of(price_id)
        if price is None:
            raise UnreadableInvoice(f"invoice {data['id']}: its price {price_id!r} is no longer stored")
        lines.append(LineFact(sub, key, price, price_id, kept is not None, qty, amount,
                              tuple((int(a), d) for a, d in discounts),
                              tax, bool(proration), datetime.fromtimestamp(start, tz=UTC),
                              datetime.fromtimestamp(end, tz=UTC)))
    return InvoiceFacts(data["id"], data["sub"], datetime.fromtimestamp(data["created"], tz=UTC),
                        data["status"], data["currency"], tuple(lines))
