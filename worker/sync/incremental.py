"""Incremental sync from the Events API, and the single-object re-fetch (wiring).

Events after the stored cursor are read (with a short overlap, skipping ids already applied),
reduced to the set of changed objects, and each object is re-fetched at the pinned API version
— event payloads may be rendered in an older version, so only their object id is trusted. The
re-fetch also settles same-second events: whatever their order, the object is read as it is
now. Objects are applied in order of their latest event and the cursor advances behind them,
so an interrupted run resumes where it stopped and a repeated run changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from worker.store.models import StripeCustomer
from worker.sync import mirror, shapes
from worker.sync.run import SyncRun
from worker.sync.source import EVENT_TYPES
from worker.sync.state import CURSOR, get_state, put_state

OVERLAP_SECONDS = 60  # re-read this much before the cursor; Stripe's list can lag a little
CHECKPOINT_EVERY = 100  # objects between cursor saves

Json = dict[str, Any]


@dataclass
class Change:
    """One changed object: its latest event time and the ids of its events."""

    object_type: str
    object_id: str
    created: int
    events: dict[str, int]  # event id → created


def event_target(event: Json) -> tuple[str, str] | None:
    """(object type, id) an event changed, or None for events the mirror does not follow."""
    kind = event.get("type") or ""
    obj = (event.get("data") or {}).get("object") or {}
    if not isinstance(obj, dict):
        return None
    if kind.startswith("customer.subscription."):
        target = ("subscription", obj.get("id"))
    elif kind.startswith("customer.discount."):
        sub = shapes.ref_id(obj.get("subscription"))
        target = ("subscription", sub) if sub else ("customer", shapes.ref_id(obj.get("customer")))
    elif kind in ("customer.created", "customer.updated", "customer.deleted"):
        target = ("customer", obj.get("id"))
    elif kind.startswith(("price.", "plan.")):
        target = ("price", obj.get("id"))
    elif kind.startswith("product."):
        target = ("product", obj.get("id"))
    else:
        return None
    return target if isinstance(target[1], str) and target[1] else None


def read_changes(run: SyncRun, cursor: Json) -> list[Change]:
    """The objects changed by events after `cursor`, ordered by their latest event."""
    seen = set(cursor.get("seen") or {})
    params: Json = {"created": {"gte": max(0, int(cursor["created"]) - OVERLAP_SECONDS)}}
    if not run.source.legacy:
        params["types"] = EVENT_TYPES
    changes: dict[tuple[str, str], Change] = {}
    for page in run.source.api.pages("/v1/events", params):
        for event in page["data"]:
            if not isinstance(event, dict) or event.get("id") in seen:
                continue
            run.report.events_seen += 1
            target = event_target(event)
            if target is None:
                continue
            created = int(event.get("created") or 0)
            change = changes.setdefault(target, Change(target[0], target[1], created, {}))
            change.created = max(change.created, created)
            change.events[event["id"]] = created
        run.tick("events", run.report.events_seen)
    return sorted(changes.values(), key=lambda c: (c.created, c.object_type, c.object_id))


def run_incremental(run: SyncRun) -> None:
    with run.store.session() as session:
        cursor = get_state(session, CURSOR) or {"created": int(run.now.timestamp()), "seen": {}}
    changes = read_changes(run, cursor)
    done: list[Change] = []
    for index, change in enumerate(changes, 1):
        apply_change(run, change.object_type, change.object_id, at=_utc(change.created))
        run.report.events_applied += len(change.events)
        done.append(change)
        run.tick("objects", index, len(changes))
        if len(done) >= CHECKPOINT_EVERY:
            cursor = _advance(run, cursor, done)
            done = []
    _advance(run, cursor, done, read_at=int(run.now.timestamp()))


def _advance(run: SyncRun, cursor: Json, done: list[Change], *, read_at: int | None = None) -> Json:
    """Move the cursor behind the applied changes; keep the ids inside the overlap window.

    `read_at` (the end of a complete run) records that every event up to then was read: the
    30-day horizon is measured from it, not from the last event, so a quiet month is no gap.
    """
    created = max([int(cursor["created"]), *(c.created for c in done)])
    seen = {**(cursor.get("seen") or {}), **{i: t for c in done for i, t in c.events.items()}}
    floor = created - OVERLAP_SECONDS
    new = {"created": created, "seen": {i: t for i, t in seen.items() if t >= floor},
           "read_at": read_at if read_at is not None else cursor.get("read_at", created)}
    with run.store.session() as session:
        put_state(session, CURSOR, new, run.now)
    return new


def _utc(created: int) -> datetime:
    return datetime.fromtimestamp(created, tz=UTC)


def apply_change(run: SyncRun, object_type: str, object_id: str, *, at: datetime | None) -> None:
    """Re-fetch one object at the pinned API version and store it (or its tombstone)."""
    raw = run.source.retrieve(object_type, object_id)
    with run.store.session() as session:
        if raw is None or raw.get("deleted"):
            gone, contacts = mirror.tombstone(session, object_type, object_id, run.now, at)
            run.report.deleted += int(gone)
        elif object_type == "customer":
            contacts = run.apply_customers(session, [raw], stamp=run.now, at=at)
        elif object_type == "subscription":
            _ensure_customer(run, session, raw)
            contacts = run.apply_subscriptions(session, [raw], stamp=run.now, at=at)
        elif object_type == "price":
            run.apply_prices(session, [raw], stamp=run.now)
            contacts = set()
        else:
            run.apply_products(session, [raw], stamp=run.now)
            contacts = set()
    run.changed(contacts, at)


def _ensure_customer(run: SyncRun, session, raw: Json) -> None:
    """A subscription whose customer is not stored yet brings its customer (for linking)."""
    customer_id = shapes.ref_id(raw.get("customer")) if isinstance(raw, dict) else None
    if not isinstance(customer_id, str):
        return
    if session.scalar(select(StripeCustomer.id).where(StripeCustomer.id == customer_id)):
        return
    customer = run.source.retrieve("customer", customer_id)
    if customer is not None and not customer.get("deleted"):
        run.apply_customers(session, [customer], stamp=run.now, at=None)
