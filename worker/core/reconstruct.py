"""Rebuild a contact's past stage and MRR from its subscriptions' dates and invoices (pure core).

`contact_timeline(subscriptions, invoices, window_start=…, now=…, preset=…, stages=…, fx=…)`
returns the contact's history rows from `window_start` to `now`, oldest first: one row per
change of its stage or of its MRR per currency (`mrr_native`, counted subscriptions only, as
`docs/mrr.md` defines it). The first row is dated `window_start` with cause `opening` when the
contact already had a stage or MRR then (an opening balance, not new business); the others
carry cause `history`.

The rules (`docs/mrr.md`, "History rebuilt at the first sync"):

Status of a subscription over time, from its own dates:
- `trialing` from `trial_start` to `trial_end`;
- then `active` (from `start_date` without a trial) until `ended_at`, then `canceled`; a
  trial that ended without converting goes straight to `canceled`;
- a subscription `past_due` or `unpaid` now is so since its oldest invoice in the trailing run
  of unpaid ones (else since its latest invoice), `paused` since its latest invoice; active
  before that; `incomplete` and `incomplete_expired` ones never counted.

MRR of a subscription over time, from its invoices (`worker.core.invoice_lines.line_monthly`):
each regular invoice sets the subscription's items to its lines from the lines' period start;
proration lines change the items they name from their period start. Only counted statuses
count (preset `stripe`: active, past_due; `chartmogul` adds paused). Where no invoice tells:
- a subscription that began before the window and has no invoice at or before the window's
  start (an annual plan billed earlier, invoices older than the window) counts what its items
  are worth today (today's MRR rule, as if active);
- a subscription begun inside the window is not counted until its first invoice (a free
  period, a `billing_cycle_anchor` in the future): its stage shows, its MRR is new business
  when it is first billed; trials are never counted (their 0.00 invoice changes nothing).
Each subscription is rounded once (half-even) at every point, as today's MRR is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

from worker.core.invoice_lines import InvoiceFacts, LineFact, line_monthly
from worker.core.money import FxTable, round_minor
from worker.core.mrr import COUNTED, subscription_currency, subscription_mrr
from worker.core.stages import StageRules

Json = dict[str, Any]


@dataclass(frozen=True)
class HistoryPoint:
    at: datetime
    stage: str | None
    mrr_native: dict[str, int]
    mrr_minor: int
    currency: str
    cause: str


def _ts(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if isinstance(value, int) and not isinstance(value, bool) else None


def status_changes(sub: Json, invoices: Sequence[InvoiceFacts]) -> list[tuple[datetime, str]]:
    """(from when, status) of one subscription, oldest first (see the module docstring)."""
    start = _ts(sub.get("start_date")) or _ts(sub.get("created"))
    if start is None:
        return []
    status = sub.get("status")
    if status in ("incomplete", "incomplete_expired"):
        return [(start, status)]
    changes: list[tuple[datetime, str]] = []
    trial_start, trial_end = _ts(sub.get("trial_start")), _ts(sub.get("trial_end"))
    after = start
    if trial_start is not None and trial_end is not None and trial_end > trial_start:
        changes.append((trial_start, "trialing"))
        after = trial_end
    if status == "trialing":
        return changes or [(start, "trialing")]
    ended = _ts(sub.get("ended_at"))
    if status == "canceled":
        ended = ended or _ts(sub.get("canceled_at")) or after
        if ended > after:
            changes.append((after, "active"))
        changes.append((max(ended, changes[0][0] if changes else ended), "canceled"))
        return changes
    changes.append((after, "active"))
    if status in ("past_due", "unpaid", "paused"):
        since = _since(invoices, status)
        changes.append((max(since, after) if since else after, status))
    return changes


def _since(invoices: Sequence[InvoiceFacts], status: str) -> datetime | None:
    ordered = sorted(invoices, key=lambda i: i.created)
    if not ordered:
        return None
    if status == "paused":
        return ordered[-1].created
    since = None
    for invoice in reversed(ordered):
        if invoice.status == "paid":
            break
        since = invoice.created
    return since or ordered[-1].created


def mrr_changes(sub: Json, invoices: Sequence[InvoiceFacts], preset: str) -> list[tuple[datetime, Fraction]]:
    """(from when, exact monthly value) of one subscription from its invoices, oldest first.

    Regular lines and proration lines are applied in the order of the moments they describe
    (Stripe's default puts a change's prorations on the *next* renewal invoice, dated back to
    the change): a regular invoice resets the items to its lines, prorations change the items
    they name."""
    sid = sub.get("id")
    events: list[tuple[datetime, int, list[LineFact]]] = []
    for invoice in invoices:
        lines = [line for line in invoice.lines if line.subscription_id == sid]
        regular = [line for line in lines if not line.proration]
        if regular:
            events.append((min(line.start for line in regular), 1, regular))
        prorations = [line for line in lines if line.proration]
        for start in sorted({line.start for line in prorations}):
            events.append((start, 0, [line for line in prorations if line.start == start]))
    events.sort(key=lambda event: (event[0], event[1]))
    items: dict[str, tuple[Fraction, str]] = {}  # item key → (monthly value, price id)
    points = []
    for at, regular, batch in events:
        if regular:
            items = {}
            for line in batch:
                value = items.get(line.key, (Fraction(0), line.price_id))[0]
                items[line.key] = (value + line_monthly(line, preset), line.price_id)
        else:
            _prorate(items, batch, preset)
        points.append((at, sum((value for value, _ in items.values()), Fraction(0))))
    return points


def _prorate(items: dict[str, tuple[Fraction, str]], batch: list[LineFact], preset: str) -> None:
    """Apply one moment's proration lines: an item's charge line sets its new terms, a credit
    line alone ends them. Lines that name no item (pending invoice items) are matched by price:
    a credit ends an item on its price, a charge adds one."""
    for key in sorted({line.key for line in batch if not line.key.startswith("price:")}):
        charged = [line for line in batch if line.key == key and line.amount > 0]
        if charged:
            items[key] = (sum((line_monthly(line, preset) for line in charged), Fraction(0)), charged[-1].price_id)
        else:
            items.pop(key, None)
    loose = [line for line in batch if line.key.startswith("price:")]
    for line in (line for line in loose if line.amount <= 0):
        match = next((key for key, (_, price) in items.items() if price == line.price_id), None)
        if match is not None:
            del items[match]
    for index, line in enumerate(line for line in loose if line.amount > 0):
        items[f"{line.key}@{int(line.start.timestamp())}#{index}"] = (line_monthly(line, preset), line.price_id)


@dataclass
class _Sub:
    currency: str
    statuses: list[tuple[datetime, str]]
    values: list[tuple[datetime, Fraction]]
    opening_value: Fraction | None  # today's value, for a window start no invoice covers

    def status_at(self, when: datetime) -> str | None:
        found = None
        for at, status in self.statuses:
            if at <= when:
                found = status
        return found

    def value_at(self, when: datetime) -> Fraction | None:
        """Its value at `when`; None before its first invoice (it is not counted yet)."""
        found = self.opening_value
        for at, value in self.values:
            if at <= when:
                found = value
        return found


def _prepare(sub: Json, invoices: Sequence[InvoiceFacts], window_start: datetime, now: datetime,
             preset: str) -> _Sub:
    statuses = status_changes(sub, invoices)
    values = mrr_changes(sub, invoices, preset)
    opening = None
    began = statuses[0][0] if statuses else None
    if began is not None and began < window_start and not any(at <= window_start for at, _ in values):
        opening = Fraction(subscription_mrr({**sub, "status": "active"}, preset, now).exact)
    currency = str(sub.get("currency") or subscription_currency(sub)).lower()  # 2017-era: on the plan
    return _Sub(currency, statuses, values, opening)


def contact_timeline(subscriptions: Iterable[Json], invoices: Mapping[str, Sequence[InvoiceFacts]], *,
                     window_start: datetime, now: datetime, preset: str, stages: StageRules,
                     fx: FxTable) -> list[HistoryPoint]:
    """The contact's rebuilt history rows in [window_start, now] (module docstring)."""
    counted = COUNTED[preset]
    subs = [_prepare(s, invoices.get(s.get("id"), ()), window_start, now, preset) for s in subscriptions]
    times = {window_start}
    for sub in subs:
        times.update(at for at, _ in sub.statuses)
        times.update(at for at, _ in sub.values)
    rows: list[HistoryPoint] = []
    last: tuple[str | None, dict[str, int]] = (None, {})
    for when in sorted(t for t in times if window_start <= t <= now):
        statuses, native = [], {}
        for sub in subs:
            status = sub.status_at(when)
            if status is None:
                continue
            statuses.append(status)
            value = sub.value_at(when) if status in counted else None
            if value is not None:
                native[sub.currency] = native.get(sub.currency, 0) + round_minor(value)
        state = (stages.stage(statuses), native)
        if state == last:
            continue
        cause = "opening" if when == window_start else "history"
        rows.append(HistoryPoint(when, state[0], native, *_reported(native, fx), cause))
        last = state
    return rows


def _reported(native: dict[str, int], fx: FxTable) -> tuple[int, str]:
    """(MRR, currency) as a contact's MRR is reported: its one currency, else converted."""
    if not native:
        return 0, fx.currency
    if len(native) == 1:
        currency, amount = next(iter(native.items()))
        return amount, currency
    return fx.rounded_total(native, subject="a rebuilt history row"), fx.currency
