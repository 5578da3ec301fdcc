"""A generator of realistic Stripe accounts in the sandbox, deterministic by seed.

Builds the catalog (products; monthly / quarterly / annual / weekly prices, per-unit, volume
and graduated tiers with flat amounts, `transform_quantity`, a metered add-on; coupons of every
duration) in usd, eur, gbp and zero-decimal jpy, then N customers (metadata `account_id`,
shared by 2–3 customers for some, missing on ~5%) with 0–2 subscriptions each: active,
trialing, past_due, unpaid, paused, scheduled cancellations, canceled, multi-item (a few with
12+ items). Objects are written straight into the store (no HTTP, no per-object sort), so
50,000 customers take seconds; creation events only when `emit_events=True`.
"""

from __future__ import annotations

import gc
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import accumulate

from stripe_sandbox import catalog
from stripe_sandbox.clock import from_ts, to_ts
from stripe_sandbox.plans import CURRENCIES, Catalog, build_catalog, pick
from stripe_sandbox.sandbox import Sandbox
from stripe_sandbox.simulation import TRIAL_WILL_END

DAY = timedelta(days=1)
STATUS_WEIGHTS = {
    "active": 60, "trialing": 8, "past_due": 5, "unpaid": 1, "paused": 1,
    "cancel_at_period_end": 6, "cancel_at": 2, "canceled": 14,
}
_KINDS = list(STATUS_WEIGHTS)
_KIND_CUM = list(accumulate(STATUS_WEIGHTS.values()))
_CURRENCY_CUM = list(accumulate((70, 15, 10, 5)))


@dataclass
class _Batch:
    customers: list[dict] = field(default_factory=list)
    subscriptions: list[dict] = field(default_factory=list)
    items: list[dict] = field(default_factory=list)
    discounts: list[dict] = field(default_factory=list)
    states: dict[str, dict] = field(default_factory=dict)


def generate_account(sandbox: Sandbox, customers: int = 100, seed: int = 0, *,
                     emit_events: bool = False, many_items_every: int = 400,
                     invoice_months: int = 24) -> dict:
    """Fill `sandbox` with a catalog and `customers` customers; returns counts by kind/status.
    Same seed (and same sandbox `seed`) → same objects, ids included. Each subscription's
    past invoices of the last `invoice_months` months are made too (its items as they are
    now; 0 for none)."""
    rng = random.Random(seed)
    with sandbox.lock, _no_cyclic_gc():
        plans = build_catalog(sandbox)
        batch = _Batch()
        account_id, group = None, 0
        for n in range(customers):
            if account_id is None or group >= 3 or rng.random() >= 0.12:
                account_id, group = f"acct-{seed}-{n:06d}", 0
            group += 1
            customer = _customer(sandbox, rng, batch, account_id, n)
            big = many_items_every > 0 and n % many_items_every == 0
            count = max(_subscription_count(rng), 1 if big else 0)
            for k in range(count):
                many = big and k == 0
                _subscription(sandbox, rng, plans, batch, customer, many)
        _commit(sandbox, batch, emit_events)
        invoices = 0
        if invoice_months > 0:
            now = sandbox.clock.now
            since = now - timedelta(days=invoice_months * 366 // 12)
            invoices = sandbox.backfill_all(batch.subscriptions, since, now)
    return {**_summary(batch), "invoices": invoices}


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Building ~200k dicts would trigger many full collections of a growing heap; none of
    it is garbage, so the cyclic collector is paused meanwhile (restored afterwards)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _subscription_count(rng: random.Random) -> int:
    roll = rng.random()
    return 0 if roll < 0.03 else 1 if roll < 0.78 else 2


def _customer(sandbox: Sandbox, rng: random.Random, batch: _Batch, account_id: str, n: int) -> dict:
    now = sandbox.clock.now
    created = now - timedelta(days=rng.randint(2, 1000), seconds=rng.randint(0, 86399))
    metadata = {} if rng.random() < 0.05 else {"account_id": account_id}
    if rng.random() < 0.3:
        metadata["segment"] = rng.choice(["smb", "mid-market", "enterprise"])
    currency = pick(rng, CURRENCIES, _CURRENCY_CUM)
    obj = catalog.customer(sandbox.store.new_id("customer"), to_ts(created),
                           email=f"billing+{n}@customer{n}.test", name=f"Customer {n}",
                           metadata=metadata, currency=currency)
    batch.customers.append(obj)
    return obj


def _subscription(sandbox: Sandbox, rng: random.Random, plans: Catalog, batch: _Batch,
                  customer: dict, many_items: bool) -> None:
    now, store = sandbox.clock.now, sandbox.store
    kind = pick(rng, _KINDS, _KIND_CUM)
    currency = customer["currency"]
    lines = plans.modules_lines(rng, currency) if many_items else plans.lines(rng, currency)
    earliest = max(customer["created"], to_ts(now - timedelta(days=900)))
    created_ts = rng.randint(earliest, to_ts(now - DAY))
    trial_end = None
    if kind == "trialing":
        created_ts = to_ts(now) - rng.randint(1, 13) * 86400 - rng.randint(0, 3600)
        trial_end = from_ts(created_ts + 14 * 86400)
    created = from_ts(created_ts)
    ended = None
    if kind == "canceled":
        low, high = created_ts + 3600, to_ts(now) - 3600
        ended = from_ts(rng.randint(low, max(low, high)))
    period_now = ended or now
    status = {"trialing": "trialing", "past_due": "past_due", "unpaid": "unpaid", "paused": "paused",
              "canceled": "canceled"}.get(kind, "active")
    anchor = trial_end or created
    sub_id = store.new_id("subscription")
    sub = catalog.subscription(sub_id, created_ts, customer["id"], currency, status=status,
                               anchor=anchor, trial_start=created_ts if trial_end else None,
                               trial_end=to_ts(trial_end) if trial_end else None)
    first_end = None
    for price, quantity in lines:
        item = catalog.subscription_item(store.new_id("subscription_item"), created_ts, sub_id,
                                         price, quantity, anchor, period_now, trial_end)
        batch.items.append(item)
        sub["items"].append(item["id"])
        first_end = first_end or item["current_period_end"]
    if rng.random() < 0.12:
        coupon = plans.coupon_for(rng, currency)
        disc = catalog.discount(store.new_id("discount"), coupon, customer["id"], sub_id, created)
        if disc["end"] is None or disc["end"] > to_ts(period_now):  # ended ones are gone already
            batch.discounts.append(disc)
            sub["discounts"].append(disc["id"])
    _lifecycle(rng, sub, kind, ended, now, first_end, batch)
    batch.subscriptions.append(sub)


def _lifecycle(rng: random.Random, sub: dict, kind: str, ended, now, period_end: int,
               batch: _Batch) -> None:
    """Cancellation fields and simulation settings for the chosen lifecycle kind."""
    state: dict = {}
    if kind == "trialing":
        state["trial_end_behavior"] = rng.choices(["active", "past_due", "paused"], weights=(8, 1, 1))[0]
        if sub["trial_end"] - TRIAL_WILL_END <= to_ts(now):  # Stripe already warned
            state["trial_will_end_sent"] = sub["trial_end"]
    if kind == "past_due":
        state["past_due_since"] = to_ts(now) - rng.randint(0, 10) * 86400
    if kind == "canceled":
        requested = rng.randint(sub["created"], to_ts(ended))
        sub.update(canceled_at=requested, ended_at=to_ts(ended),
                   cancellation_details={"comment": None, "feedback": None,
                                         "reason": rng.choice(["cancellation_requested", "payment_failed"])})
    if kind == "cancel_at_period_end":
        sub.update(cancel_at_period_end=True, cancel_at=period_end,
                   canceled_at=to_ts(now) - 86400 * rng.randint(1, 20))
    if kind == "cancel_at":
        sub.update(cancel_at=to_ts(now) + 86400 * rng.randint(5, 120), canceled_at=to_ts(now) - 86400)
    if state:
        batch.states[sub["id"]] = state


def _commit(sandbox: Sandbox, batch: _Batch, emit_events: bool) -> None:
    store = sandbox.store
    store.add_bulk("customer", batch.customers)
    for item in batch.items:
        store["subscription_item"].objects[item["id"]] = item
    for disc in batch.discounts:
        store["discount"].objects[disc["id"]] = disc
    store.add_bulk("subscription", batch.subscriptions)
    for sub_id, state in batch.states.items():
        sub_state = sandbox.sub_state(sub_id)
        for name, value in state.items():
            setattr(sub_state, name, value)
    for sub in batch.subscriptions:
        sandbox.reschedule(sub["id"])
    if emit_events:
        rows = [(c["created"], "customer.created", "customer", c) for c in batch.customers]
        rows += [(s["created"], "customer.subscription.created", "subscription", s) for s in batch.subscriptions]
        for created, event_type, object_type, obj in sorted(rows, key=lambda r: r[0]):
            sandbox.emit(event_type, object_type, obj, at=created)


def _summary(batch: _Batch) -> dict:
    statuses: dict[str, int] = {}
    for sub in batch.subscriptions:
        statuses[sub["status"]] = statuses.get(sub["status"], 0) + 1
    return {"customers": len(batch.customers), "subscriptions": len(batch.subscriptions),
            "items": len(batch.items), "discounts": len(batch.discounts), "statuses": statuses,
            "max_items": max((len(s["items"]) for s in batch.subscriptions), default=0)}
