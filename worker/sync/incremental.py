"""Incremental sync from the Events API, and the single-object re-fetch (wiring).

Events after the stored cursor are read (with a short overlap, skipping ids already applied),
reduced to the set of changed objects, and each object is re-fetched at the pinned API version
— event payloads may be rendered in an older version, so only their object id is trusted. The
re-fetch also settles same-second events: whatever their order, the object is read as it is
now. An object whose events were all applied by webhook re-fetches (worker.sync.applied: each
read the object after its event arrived) is not re-fetched again; the cursor still moves past
those events. One event without such a record is enough to re-fetch the object. Objects are
taken in order of their latest event, CHECKPOINT_EVERY at a time: each chunk is
re-fetched, then written with one statement per kind and the cursor moved behind it in one
transaction, so an interrupted run resumes where it stopped and a repeated run changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.store.models import StripeCustomer
from worker.sync import applied, listed, mirror, shapes
from worker.sync.backfill import stripe_cursor
from worker.sync.run import SyncRun
from worker.sync.source import EVENT_TYPES
from worker.sync.state import CURSOR, get_state, put_state

OVERLAP_SECONDS = 60  # re-read this much before the cursor; Stripe's list can lag a little
CHECKPOINT_EVERY = 100  # objects between cursor saves

Json = dict[str, Any]
Note = tuple[set[str], datetime | None]  # (contacts changed, when)


@dataclass
class Change:
    """One changed object: its latest event time and the ids of its events."""

    object_type: str
    object_id: str
    created: int
    events: dict[str, int]  # event id → created
    born: int | None = None  # the object's own `created`, from an event about it (worker.sync.listed)


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
            obj = event["data"]["object"]
            if obj.get("id") == target[1] and obj.get("object") == target[0] and isinstance(obj.get("created"), int):
                change.born = obj["created"]
        run.tick("events", run.report.events_seen)
    return sorted(changes.values(), key=lambda c: (c.created, c.object_type, c.object_id))


def run_incremental(run: SyncRun) -> None:
    with run.store.session() as session:
        cursor = get_state(session, run.key(CURSOR))
    if cursor is None:  # no backfill recorded one: start on Stripe's clock (never the worker's)
        cursor = stripe_cursor(run.source.api)
    changes = read_changes(run, cursor)
    with run.store.session() as session:
        applied.prune(session, run.now)
        done = applied.applied_ids(session, run.account, (i for c in changes for i in c.events))
    first_event = min((t for c in changes for t in c.events.values()), default=0)
    since = max(int(cursor["created"]) + 1, first_event)
    for start in range(0, len(changes), CHECKPOINT_EVERY):
        chunk = changes[start:start + CHECKPOINT_EVERY]
        todo = [c for c in chunk if not c.events.keys() <= done]
        run.report.objects_already_read += len(chunk) - len(todo)
        fetched = _fetch_chunk(run, todo, since=since)
        linking = prepare(run, fetched)
        with run.store.session() as session:
            notes = store_fetched(run, session, fetched, linking)
            cursor = _advance(session, run.key(CURSOR), cursor, chunk, run.now)
        run.report.events_applied += sum(len(c.events) for c in chunk)
        _notify(run, notes)
        run.tick("objects", start + len(chunk), len(changes))
    with run.store.session() as session:
        _advance(session, run.key(CURSOR), cursor, [], run.now, read_at=int(run.now.timestamp()))


def _advance(session: Session, key: str, cursor: Json, done: list[Change], now: datetime, *,
             read_at: int | None = None) -> Json:
    """Move the cursor behind the applied changes (in their transaction); keep the ids inside
    the overlap window.

    `read_at` (the end of a complete run) records that every event up to then was read: the
    30-day horizon is measured from it, not from the last event, so a quiet month is no gap.
    """
    created = max([int(cursor["created"]), *(c.created for c in done)])
    seen = {**(cursor.get("seen") or {}), **{i: t for c in done for i, t in c.events.items()}}
    floor = created - OVERLAP_SECONDS
    new = {"created": created, "seen": {i: t for i, t in seen.items() if t >= floor},
           "read_at": read_at if read_at is not None else cursor.get("read_at", created)}
    put_state(session, key, new, now)
    return new


def _utc(created: int) -> datetime:
    return datetime.fromtimestamp(created, tz=UTC)


@dataclass
class Fetched:
    """One re-fetched object: `raw` is None (or `deleted: true`) when Stripe no longer has it."""

    object_type: str
    object_id: str
    at: datetime | None  # the time of its latest event (None: not known)
    raw: Json | None

    @property
    def gone(self) -> bool:
        return self.raw is None or bool(self.raw.get("deleted"))


def fetch(run: SyncRun, object_type: str, object_id: str, *, at: datetime | None) -> Fetched:
    """Re-fetch one object at the pinned API version."""
    run.report.objects_refetched += 1
    return Fetched(object_type, object_id, at, run.source.retrieve(object_type, object_id))


def _fetch_chunk(run: SyncRun, chunk: list[Change], *, since: int) -> list[Fetched]:
    """Each changed object as Stripe has it now: new ones listed together where several are
    (worker.sync.listed), the others one GET each. `since`: after the cursor's newest event
    and not before the first event this run read, so every object created since has its
    `*.created` event among the changes (not so for one created within the overlap, or for an
    account's objects older than its events)."""
    found = listed.list_new(run, chunk, since=since)
    fetched = []
    for change in chunk:
        raw = found.get((change.object_type, change.object_id))
        if raw is None:
            fetched.append(fetch(run, change.object_type, change.object_id, at=_utc(change.created)))
        else:
            run.report.objects_refetched += 1
            fetched.append(Fetched(change.object_type, change.object_id, _utc(change.created), raw))
    return fetched


def apply_change(run: SyncRun, object_type: str, object_id: str, *, at: datetime | None) -> None:
    """Re-fetch one object and store it (or its tombstone) in its own transaction (webhooks)."""
    fetched = fetch(run, object_type, object_id, at=at)
    linking = prepare(run, [fetched])
    with run.store.session() as session:
        notes = store_fetched(run, session, [fetched], linking)
    _notify(run, notes)


def prepare(run: SyncRun, fetched: list[Fetched]) -> list[Json]:
    """What still needs Stripe, done before the write transaction (so no write lock is held
    across HTTP): each subscription completed (item pages, tiers, coupons) in place, and the
    customers its subscriptions need for linking that are neither stored nor being written."""
    for item in fetched:
        if item.object_type == "subscription" and not item.gone:
            item.raw = _completed(run, item.raw)
        elif item.object_type == "customer" and not item.gone:
            item.raw = run.source.complete_customer(item.raw)
    live = [f for f in fetched if not f.gone]
    linking = _missing_customers(run, [f for f in live if f.object_type == "subscription"],
                                 [f for f in live if f.object_type == "customer"])
    return [run.source.complete_customer(c) for c in linking]


def _completed(run: SyncRun, raw: Json) -> Json:
    """The complete subscription; as fetched when it cannot be read (the write quarantines it
    with the reason). Completing a complete subscription again asks Stripe nothing."""
    try:
        shapes.check_subscription(raw)
        return run.source.complete(raw)
    except shapes.Malformed:
        return raw


def store_fetched(run: SyncRun, session: Session, fetched: list[Fetched], linking: list[Json]) -> list[Note]:
    """Write re-fetched objects (`prepare`d) and the `linking` customers in the caller's
    transaction, one batch per kind (a statement per batch, not per object: an incremental sync
    writes up to CHECKPOINT_EVERY objects at once). Returns (contacts, event time) per object
    for `on_changed`, to call once committed."""
    live = [f for f in fetched if not f.gone]
    kinds: dict[str, list[Fetched]] = {"customer": [], "subscription": [], "price": [], "product": []}
    for item in live:
        kinds[item.object_type].append(item)
    if kinds["price"]:
        run.apply_prices(session, [f.raw for f in kinds["price"]], stamp=run.now)
    if kinds["product"]:
        run.apply_products(session, [f.raw for f in kinds["product"]], stamp=run.now)
    notes: list[Note] = []
    for kind, apply, extra in (("customer", run.apply_customers, linking),
                               ("subscription", run.apply_subscriptions, [])):
        if kinds[kind] or extra:
            result = apply(session, [f.raw for f in kinds[kind]] + extra, stamp=run.now,
                           at={f.object_id: f.at for f in kinds[kind]})
            notes += [(result.by_object.get(f.object_id, set()), f.at) for f in kinds[kind]]
    for item in (f for f in fetched if f.gone):
        changed, contacts = mirror.tombstone(session, item.object_type, item.object_id, run.now, item.at,
                                             run.account)
        run.report.deleted += int(changed)
        notes.append((contacts, item.at))
    return notes


def _notify(run: SyncRun, notes: list[Note]) -> None:
    for contacts, at in notes:
        run.changed(contacts, at)


def _missing_customers(run: SyncRun, subscriptions: list[Fetched], customers: list[Fetched]) -> list[Json]:
    """Customers of these subscriptions that are neither stored nor being written: fetched so
    the subscriptions can be linked to their contacts."""
    wanted = {shapes.ref_id(f.raw.get("customer")) for f in subscriptions if isinstance(f.raw, dict)}
    wanted = {c for c in wanted if isinstance(c, str)} - {f.object_id for f in customers}
    if not wanted:
        return []
    with run.store.session() as session:
        stored = set(session.scalars(select(StripeCustomer.id).where(StripeCustomer.account == run.account,
                                                                     StripeCustomer.id.in_(wanted))))
    found = [run.source.retrieve("customer", c) for c in sorted(wanted - stored)]
    return [c for c in found if c is not None and not c.get("deleted")]
