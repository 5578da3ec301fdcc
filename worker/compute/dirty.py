"""Which contacts an evaluation pass must recompute (adapter: SQLAlchemy).

Recomputing every contact on every pass parsed all the stored Stripe JSON each time, although
on a typical pass a few percent of the contacts changed. A contact's snapshot is a function of
  (a) its mirror rows — its Contact row, its Stripe customers, their subscriptions;
  (b) the rules (MRR preset, FX rates, stages) and the stored product names (`plans`);
  (c) `now`, through discounts only (a coupon counts from its `start` and, for preset
      chartmogul, until its `end`: worker.core.discounts.counts);
  (d) its own previous snapshot and history, which only recompute itself writes.
So a pass recomputes exactly the contacts for which one of these may have moved:

- **mirror changed**: `mirror_keys` digests each contact's rows from narrow columns (no JSON):
  the Contact row's fields and `updated_at`, and per customer/subscription its id,
  `written_at`, `changed_at` and `deleted`. Every write that changes a row's content (upsert
  of a changed object, tombstone) sets `written_at` to its run's stamp, and a customer moving
  between contacts changes both contacts' sets, so any change alters the digest. A sync that
  only *saw* an unchanged object moves `synced_at`, not `written_at`: a full reconcile, which
  sees every object, does not make the next pass recompute everyone. ContactState.mirror_key holds the digest the stored
  snapshot was computed from; a contact is dirty when it differs (or is missing). The digests
  are compared only for the contacts the writers queued in the same transaction as their
  write (worker.store.evaluation_queue), plus every contact once `SCAN_EVERY` (a safety net):
  a scheduled pass with nothing queued reads no mirror row of an unchanged contact.
- **time due**: ContactState.recompute_at is the next discount start/end after the compute
  (`next_time_change`); the contact is due once `now` reaches it.
- **never computed** (no ContactState), or its last compute failed (mirror_key cleared).
- **everything** when the rules or product names changed (`fingerprint`, kept in SyncState),
  and as a safety net once `FULL_EVERY` has passed since the last full pass.

Time-based triggers need no recompute: they are read from the stored snapshots of every
contact on every pass (worker.automations.evaluate).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, select, type_coerce
from sqlalchemy.orm import Session

from worker.compute.mirror import contact_chunks
from worker.core.discounts import discount_list
from worker.core.mrr import subscription_items
from worker.core.renewal import timestamp
from worker.core.snapshot import parse_iso
from worker.rules.model import SourceConfig, StagesConfig
from worker.store.models import (
    DEFAULT_ACCOUNT,
    Contact,
    ContactState,
    StripeCustomer,
    StripeProduct,
    StripeSubscription,
    SyncState,
)

STATE_KEY = "recompute"
#: A full recompute at least this often, whatever the digests say (a safety net: the digests
#: and discount times already cover every input; see the module doc). Passes a day apart
#: would make a daily full pass a full pass every time.
FULL_EVERY = timedelta(days=7)
#: Every contact's digest compared at least this often (a safety net for a write that did not
#: queue its contact); between, a scheduled pass takes the queue (issue #18: the scan read
#: every customer and subscription row on every pass, O(contacts) with nothing changed).
SCAN_EVERY = timedelta(days=1)


@dataclass
class Plan:
    """What one pass recomputes: `ids` (None: every contact). The digests to store are read
    again per chunk when the pass recomputes it (`mirror_keys`), never held for everyone."""

    ids: list[str] | None
    full_reason: str | None = None  # why everything is recomputed, when it is
    scanned: bool = False  # every contact's digest was compared (the daily safety net)

    @property
    def full(self) -> bool:
        return self.ids is None


def mirror_keys(session: Session, contact_ids: Sequence[str] | None = None) -> dict[str, str]:
    """contact id → digest of its Contact row and Stripe customers and subscriptions (of every
    contact, or of these only: a targeted pass must not read everyone's rows).

    Every row counts with its id and stamps, so a change shows whatever the order of the stamps
    (a webhook re-fetch can commit a later stamp before a long reconcile commits its earlier
    one: a summary such as the latest stamp per contact would miss that). Runs every pass over
    every contact, so it reads plain rows (no ORM) in a fixed order and hashes each contact's
    rows as one string."""
    if contact_ids is None:
        return _mirror_keys(session, None)
    ids = sorted(set(contact_ids))
    keys: dict[str, str] = {}
    for start in range(0, len(ids), 500):
        keys.update(_mirror_keys(session, ids[start:start + 500]))
    return keys


def _mirror_keys(session: Session, ids: list[str] | None, *,
                 between: tuple[str, str] | None = None) -> dict[str, str]:
    """The digests of these contacts, of those with an id in `between` (low, high], or of all."""
    connection = session.connection()
    parts: dict[str, list[str]] = defaultdict(list)
    query = select(Contact.id, Contact.type, Contact.name, Contact.email, _stored(Contact.updated_at))
    if ids is not None:
        query = query.where(Contact.id.in_(ids))
    elif between is not None:
        query = query.where(Contact.id > between[0], Contact.id <= between[1])
    for contact_id, *rest in connection.execute(query):
        parts[contact_id].append(repr(("contact", *rest)))
    owner: dict[tuple[str, str], str] = {}  # (account, customer id) → contact id
    query = (select(StripeCustomer.account, StripeCustomer.id, StripeCustomer.contact_id,
                    _stored(StripeCustomer.written_at), _stored(StripeCustomer.changed_at), StripeCustomer.deleted)
             .where(StripeCustomer.contact_id.is_not(None)).order_by(StripeCustomer.id, StripeCustomer.account))
    if ids is not None:
        query = query.where(StripeCustomer.contact_id.in_(ids))
    elif between is not None:
        query = query.where(StripeCustomer.contact_id > between[0], StripeCustomer.contact_id <= between[1])
    for account, customer_id, contact_id, *rest in connection.execute(query):
        owner[(account, customer_id)] = contact_id
        parts[contact_id].append(repr(("customer", customer_id, *rest) if account == DEFAULT_ACCOUNT
                                      else ("customer", account, customer_id, *rest)))
    query = select(StripeSubscription.account, StripeSubscription.customer_id, StripeSubscription.id,
                   _stored(StripeSubscription.written_at), _stored(StripeSubscription.changed_at),
                   StripeSubscription.deleted).order_by(StripeSubscription.id, StripeSubscription.account)
    if between is not None and ids is None:
        query = query.join(StripeCustomer, (StripeCustomer.id == StripeSubscription.customer_id)
                           & (StripeCustomer.account == StripeSubscription.account)).where(
            StripeCustomer.contact_id > between[0], StripeCustomer.contact_id <= between[1])
    elif ids is not None:
        if not owner:
            query = None
        else:
            query = query.where(StripeSubscription.customer_id.in_(sorted({c for _, c in owner})))
    for account, *row in connection.execute(query) if query is not None else ():
        contact_id = owner.get((account, row[0]))
        if contact_id is not None:
            parts[contact_id].append(repr(("subscription", *row) if account == DEFAULT_ACCOUNT
                                          else ("subscription", account, *row)))
    return {contact_id: _digest_text("\n".join(items)) for contact_id, items in parts.items()}


def _stored(column: Any) -> Any:
    """A time column as the driver returns it (SQLite: its text, to the microsecond; PostgreSQL:
    a datetime), without the UTC conversion a digest does not need."""
    return type_coerce(column, String)


def iso_us(value: datetime | None) -> str | None:
    """A time to the microsecond (`iso` stops at seconds: two passes a second apart must differ)."""
    return None if value is None else value.isoformat()


def _digest(items: list[tuple]) -> str:
    return _digest_text(repr(items))


def _digest_text(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def fingerprint(session: Session, source: SourceConfig, stages: StagesConfig) -> str:
    """Digest of everything outside a contact's rows that its snapshot depends on."""
    products = sorted(session.execute(select(StripeProduct.id, StripeProduct.name)))
    return _digest([("mrr", repr(source.mrr)), ("stages", repr(stages)), ("products", tuple(products))])


def targeted(contact_ids: Sequence[str]) -> Plan:
    """A pass over these contacts only (a sync or re-fetch changed them); the rules'
    fingerprint and the full-pass clock are the scheduled pass's business."""
    return Plan(sorted(set(contact_ids)))


def plan(session: Session, source: SourceConfig, stages: StagesConfig, *, now: datetime,
         full_every: timedelta | None = None, chunk: int = 2000, queued: Sequence[str] = (),
         scan_every: timedelta | None = None) -> Plan:
    """The contacts this pass must recompute (see the module doc); everyone when `full_every`
    (default FULL_EVERY; setting RECOMPUTE_FULL_EVERY) has passed since the last full pass.

    Otherwise the contacts the writers `queued` (worker.store.evaluation_queue) whose digest
    moved, those whose compute failed or never ran, and those whose `recompute_at` is due:
    indexed look-ups, no mirror row of an unchanged contact is read. Once `scan_every`
    (default SCAN_EVERY) the digests of every contact are compared as well, `chunk` contacts
    at a time (keyset on the contact id, only the dirty ids kept): the safety net for a write
    that did not queue its contact."""
    full_every = full_every or FULL_EVERY
    scan_every = scan_every or SCAN_EVERY
    row = session.get(SyncState, STATE_KEY)
    value = row.value if row is not None else {}
    last_full = parse_iso(value.get("last_full_at"))
    if value.get("fingerprint") != fingerprint(session, source, stages):
        return Plan(None, "rules or product names changed" if value else "first pass")
    if last_full is None or now - last_full >= full_every or now < last_full:
        return Plan(None, f"no full pass in the last {full_every}")
    last_scan = parse_iso(value.get("last_scan_at")) or last_full
    if now - last_scan >= scan_every or now < last_scan:
        dirty = _scan(session, chunk)
        scanned = True
    else:
        dirty = _changed(session, queued)
        scanned = False
    dirty.update(session.scalars(select(ContactState.contact_id).where(ContactState.recompute_at <= now)))
    return Plan(sorted(dirty), scanned=scanned)


def _changed(session: Session, queued: Sequence[str]) -> set[str]:
    """The queued contacts whose digest moved, and those with no valid stored compute."""
    dirty: set[str] = set()
    ids = sorted(set(queued))
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        keys = _mirror_keys(session, part)
        stored = dict(session.execute(select(ContactState.contact_id, ContactState.mirror_key)
                                      .where(ContactState.contact_id.in_(part))).all())
        dirty.update(cid for cid in part if cid in keys and stored.get(cid) != keys[cid])
    # a failed compute cleared its mirror_key; a contact never computed has no state at all
    dirty.update(session.scalars(select(ContactState.contact_id).where(ContactState.mirror_key.is_(None))))
    dirty.update(session.scalars(select(Contact.id).outerjoin(ContactState, ContactState.contact_id == Contact.id)
                                 .where(ContactState.contact_id.is_(None))))
    return dirty


def _scan(session: Session, chunk: int) -> set[str]:
    """Every contact whose digest differs from the stored one (reads every mirror row)."""
    dirty: set[str] = set()
    low = ""
    for part in contact_chunks(session, chunk):
        high = part[-1]  # the chunk is the contacts in (low, high]: read by range, not by list
        keys = _mirror_keys(session, None, between=(low, high))
        stored = dict(session.execute(select(ContactState.contact_id, ContactState.mirror_key)
                                      .where(ContactState.contact_id > low, ContactState.contact_id <= high)).all())
        dirty.update(cid for cid in part if cid in keys and stored.get(cid) != keys[cid])
        low = high
    return dirty


def remember(session: Session, source: SourceConfig, stages: StagesConfig, done: Plan, *, now: datetime) -> None:
    """Record the rules' fingerprint and, after a full pass, its time (in the pass's transaction)."""
    row = session.get(SyncState, STATE_KEY)
    value: dict[str, Any] = dict(row.value) if row is not None else {}
    value["fingerprint"] = fingerprint(session, source, stages)
    if done.full:
        value["last_full_at"] = iso_us(now)
    if done.full or done.scanned:
        value["last_scan_at"] = iso_us(now)
    if row is None:
        session.add(SyncState(key=STATE_KEY, value=value, updated_at=now))
    else:
        row.value, row.updated_at = value, now


def next_time_change(subscriptions: Sequence[dict[str, Any]], now: datetime,
                     customer_discounts: Sequence[Any] = ()) -> datetime | None:
    """The earliest discount start or end after `now` among these raw subscriptions and the
    customers' own discounts: when the contact's MRR may change with no change in Stripe (both
    presets; a superset is harmless)."""
    found: datetime | None = None
    for sub in [*subscriptions, {"discounts": list(customer_discounts)}]:
        discounts = list(discount_list(sub))
        for item in subscription_items(sub):
            if isinstance(item, dict):
                discounts += discount_list(item)
        for discount in discounts:
            if not isinstance(discount, dict):
                continue
            for name in ("start", "end"):
                try:
                    when = timestamp(discount.get(name))
                except (TypeError, ValueError, OverflowError):
                    continue
                if when is not None and when > now and (found is None or when < found):
                    found = when
    return found
