"""Invoices of the sandbox (a mixin of `Sandbox`), made by its virtual clock like Stripe's.

- a subscription created without a trial: one `subscription_create` invoice for its first
  period; with a trial, a 0.00 invoice for the trial period (Stripe does the same);
- each renewal and each trial end: one `subscription_cycle` invoice for the new period;
- a quantity or price change of a billing subscription: one `subscription_update` invoice
  of proration lines, invoiced at once (Stripe's `proration_behavior=always_invoice`): a
  credit for the unused time of the old line and a charge for the rest of the period on the
  new one, each `round(full period amount × remaining / period length)`;
- a renewal of a `past_due` subscription, or `fail_payment`: the invoice stays `open` with a
  failed attempt (`attempted`, `attempt_count`); `pay` marks the latest open one `paid`.

Subscription discounts apply per line: `percent_off` rounds per line, a subscription-level
`amount_off` is shared among the lines in proportion to their amounts (the last line takes
the rounding rest); a `once` coupon only on the subscription's first invoice.

Invoices are stored compactly (tuples per line) and rendered on request, in the current shape
(`parent.subscription_details`, line `parent.subscription_item_details`, `pricing`) or, for a
`Stripe-Version` before 2025-03-31, the older one (`subscription` on the invoice and lines,
line `price`/`plan`, `proration`). Lists: `customer`, `subscription`, `status`, `created`,
`limit`, `starting_after` / `ending_before`; an invoice's `lines` carry the first 10, the rest
at `GET /v1/invoices/{id}/lines`.
"""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction
from typing import NamedTuple

from stripe_sandbox.clock import from_ts, to_ts

INVOICE_STATUSES = ("draft", "open", "paid", "uncollectible", "void")
LINES_SHOWN = 10


class Line(NamedTuple):
    """One invoice line: a subscription item billed for [start, end)."""

    id: str
    item: str
    price: str
    quantity: int
    amount: int
    discounts: tuple[tuple[int, str], ...]  # (amount, discount id)
    proration: bool
    start: int
    end: int


def period_amount(price: dict, quantity: int) -> int:
    """What one full period of `quantity` costs at `price` (per unit, volume or graduated)."""
    transform = price.get("transform_quantity")
    if transform:
        q = Fraction(quantity, int(transform["divide_by"]))
        quantity = int(q) if transform.get("round") == "down" or q.denominator == 1 else int(q) + 1
    if price.get("billing_scheme") != "tiered":
        return int(price.get("unit_amount") or 0) * quantity
    tiers = price["tiers"]
    if price.get("tiers_mode") == "volume":
        for tier in tiers:
            if tier["up_to"] is None or quantity <= tier["up_to"]:
                return (tier["unit_amount"] or 0) * quantity + (tier["flat_amount"] or 0)
    total, below = 0, 0
    for tier in tiers:  # graduated: each tier's slice, plus the flat amount of every tier reached
        up = tier["up_to"]
        top = quantity if up is None else min(quantity, up)
        total += (tier["unit_amount"] or 0) * max(0, top - below) + (tier["flat_amount"] or 0)
        if up is None or quantity <= up:
            break
        below = up
    return total


class Invoicing:
    """Mixed into `Sandbox`: creates invoices at the moments Stripe would."""

    def _invoicing_init(self) -> None:
        self._invoiced_once: set[str] = set()  # subscriptions whose `once` coupons were used
        self._invoice_batch: list[dict] | None = None  # the generator's bulk path (one sort at the end)

    # creating ---------------------------------------------------------------------------
    def invoice_subscription(self, sub: dict, reason: str, *, at: int | None = None,
                             lines: list[Line] | None = None, free: bool = False) -> dict:
        """Store one invoice of `sub` (its items' current periods unless `lines` are given)."""
        store = self.store
        created = self.clock.ts if at is None else at
        if lines is None:
            lines = [self._full_line(sub, item_id, free) for item_id in sub["items"]
                     if store.get("subscription_item", item_id)]
        lines = self._discounted(sub, lines, created)
        status, attempts = "paid", 1
        if sub["status"] == "past_due":
            status = "open"
        elif sub["status"] in ("unpaid", "paused"):
            status, attempts = "open", 0
        if sum(line.amount for line in lines) <= 0:
            status, attempts = "paid", 0
        invoice = {
            "id": store.new_id("invoice"), "created": created, "customer": sub["customer"],
            "subscription": sub["id"], "currency": sub["currency"], "billing_reason": reason,
            "status": status, "attempt_count": attempts, "lines": lines,
            "period_start": min((line.start for line in lines), default=created),
            "period_end": max((line.end for line in lines), default=created),
        }
        if self._invoice_batch is not None:
            self._invoice_batch.append(invoice)
        else:
            store.add("invoice", invoice)
        store.invoices_of.setdefault(sub["id"], []).append(invoice["id"])
        sub["latest_invoice"] = invoice["id"]
        return invoice

    def _full_line(self, sub: dict, item_id: str, free: bool) -> Line:
        item = self.store.get("subscription_item", item_id)
        price = self.store.get("price", item["price"])
        amount = 0 if free or price["recurring"].get("usage_type") == "metered" else period_amount(
            price, int(item.get("quantity") or 0))
        return Line(self.store.new_id("line_item"), item_id, price["id"], int(item.get("quantity") or 0),
                    amount, (), False, item["current_period_start"], item["current_period_end"])

    def proration_lines(self, sub: dict, before: dict[str, tuple[str, int]]) -> list[Line]:
        """Credit and charge lines for every item whose price or quantity changed from `before`
        ({item id: (price id, quantity)}), for the rest of its current period."""
        now, lines = self.clock.ts, []
        for item_id in sub["items"]:
            item = self.store.get("subscription_item", item_id)
            if item is None:
                continue
            old = before.get(item_id)
            new = (item["price"], int(item.get("quantity") or 0))
            if old == new:
                continue
            start, end = item["current_period_start"], item["current_period_end"]
            if not start < now < end:
                continue
            share = Fraction(end - now, end - start)
            if old is not None:
                lines.append(self._proration(item_id, old, -share, now, end))
            lines.append(self._proration(item_id, new, share, now, end))
        for item_id, old in before.items():  # removed items: a credit for their unused time
            item = self.store.get("subscription_item", item_id)
            if item_id in sub["items"] or item is None:
                continue
            start, end = item["current_period_start"], item["current_period_end"]
            if start < now < end:
                lines.append(self._proration(item_id, old, -Fraction(end - now, end - start), now, end))
        return lines

    def _proration(self, item_id: str, terms: tuple[str, int], share: Fraction, start: int, end: int) -> Line:
        price = self.store.get("price", terms[0])
        amount = round(period_amount(price, terms[1]) * share)
        return Line(self.store.new_id("line_item"), item_id, terms[0], terms[1], amount, (), True, start, end)

    def _discounted(self, sub: dict, lines: list[Line], created: int) -> list[Line]:
        """Apply the subscription's discounts in effect at `created` to the lines."""
        discounts = [d for d in (self.store.get("discount", i) for i in sub["discounts"]) if d]
        live = [d for d in discounts if d["start"] <= created and (d["end"] is None or created < d["end"])]
        first = sub["id"] not in self._invoiced_once
        self._invoiced_once.add(sub["id"])
        for disc in live:
            coupon = self.store.get("coupon", disc["source"]["coupon"])
            if coupon is None or (coupon["duration"] == "once" and not first):
                continue
            lines = self._apply_coupon(lines, coupon, disc["id"], sub["currency"])
        return lines

    @staticmethod
    def _apply_coupon(lines: list[Line], coupon: dict, disc_id: str, currency: str) -> list[Line]:
        def left(line: Line) -> int:
            return line.amount - sum(a for a, _ in line.discounts)

        if coupon.get("percent_off") is not None:
            pct = Fraction(str(coupon["percent_off"])) / 100
            return [line._replace(discounts=(*line.discounts, (round(left(line) * pct), disc_id)))
                    if left(line) > 0 else line for line in lines]
        off = coupon.get("amount_off")
        if coupon.get("currency") != currency:
            off = ((coupon.get("currency_options") or {}).get(currency) or {}).get("amount_off")
        base = sum(left(line) for line in lines if left(line) > 0)
        if not off or base <= 0:
            return lines
        off, out, rest = min(off, base), [], min(off, base)
        positive = [i for i, line in enumerate(lines) if left(line) > 0]
        for i, line in enumerate(lines):
            if i not in positive:
                out.append(line)
                continue
            share = rest if i == positive[-1] else round(Fraction(off * left(line), base))
            rest -= share
            out.append(line._replace(discounts=(*line.discounts, (share, disc_id))))
        return out

    def _latest_invoice(self, sub_id: str, status: str | None = None) -> dict | None:
        for invoice_id in reversed(self.store.invoices_of.get(sub_id, [])):
            invoice = self.store.get("invoice", invoice_id)
            if status is None or invoice["status"] == status:
                return invoice
        return None

    def invoice_failed(self, sub_id: str) -> None:
        """A payment attempt of the latest invoice failed: it stays (or becomes) open."""
        invoice = self._latest_invoice(sub_id)
        if invoice is not None:
            invoice["status"] = "open"
            invoice["attempt_count"] += 1
            self.store.touch()

    def invoice_paid(self, sub_id: str) -> None:
        invoice = self._latest_invoice(sub_id, "open")
        if invoice is not None:
            invoice["status"] = "paid"
            invoice["attempt_count"] += 1
            self.store.touch()

    def backfill_all(self, subscriptions: list[dict], since: datetime, until: datetime) -> int:
        """`backfill_invoices` for many subscriptions, indexed with one sort at the end."""
        self._invoice_batch = []
        try:
            made = sum(self.backfill_invoices(sub, since, until) for sub in subscriptions)
            self.store.add_bulk("invoice", self._invoice_batch)
        finally:
            self._invoice_batch = None
        for ids in self.store.invoices_of.values():
            ids.sort(key=self.store["invoice"].key_of.__getitem__)
        return made

    def backfill_invoices(self, sub: dict, since: datetime, until: datetime) -> int:
        """Invoices of a generated subscription's past periods in [since, until) (its items as
        they are now); the trial's 0.00 invoice too. Returns how many were made."""
        from stripe_sandbox.clock import add_interval

        made = 0
        items = [self.store.get("subscription_item", i) for i in sub["items"]]
        items = [i for i in items if i]
        if not items:
            return 0
        if sub.get("trial_start") and sub["trial_start"] >= to_ts(since):
            trial = [Line(self.store.new_id("line_item"), i["id"], i["price"], int(i.get("quantity") or 0), 0,
                          (), False, sub["trial_start"], sub["trial_end"]) for i in items]
            self.invoice_subscription(sub, "subscription_create", at=sub["trial_start"], lines=trial)
            made += 1
        recurring = self.store.get("price", items[0]["price"])["recurring"]
        anchor = from_ts(sub["billing_cycle_anchor"])
        first = sub["trial_end"] or sub["start_date"]
        n, start = 0, anchor
        end_at = min(to_ts(until), sub["ended_at"] or to_ts(until))
        while to_ts(start) < end_at:
            nxt = add_interval(anchor, recurring["interval"], int(recurring["interval_count"]) * (n + 1))
            if to_ts(start) >= max(first, to_ts(since)):
                lines = [Line(self.store.new_id("line_item"), i["id"], i["price"], int(i.get("quantity") or 0),
                              self._line_amount(i), (), False, to_ts(start), to_ts(nxt)) for i in items]
                reason = "subscription_create" if to_ts(start) == sub["start_date"] else "subscription_cycle"
                invoice = self.invoice_subscription(sub, reason, at=to_ts(start), lines=lines)
                if invoice["status"] != "paid" and to_ts(nxt) <= self.clock.ts:
                    invoice.update(status="paid", attempt_count=1)  # an older period: settled since
                made += 1
            n, start = n + 1, nxt
        return made

    def _line_amount(self, item: dict) -> int:
        price = self.store.get("price", item["price"])
        if price["recurring"].get("usage_type") == "metered":
            return 0
        return period_amount(price, int(item.get("quantity") or 0))
