"""Writing the Stripe mirror: bulk upserts with change detection, tombstones, quarantine (wiring).

Each `write_*` call takes a batch of already-validated, complete Stripe objects, compares them
with what is stored, writes only what changed (a repeated sync writes nothing but `synced_at`;
`written_at` moves only with a real change), and returns the contact ids whose customers or
subscriptions changed. Quarantined objects are stored redacted and counted; an object that
later syncs cleanly resolves its quarantine entry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from worker.logs import get_logger, redact
from worker.rules.model import ContactsConfig
from worker.store.evaluation_queue import queue_contacts
from worker.store.models import (
    DEFAULT_ACCOUNT,
    Quarantine,
    StripeCustomer,
    StripePrice,
    StripeProduct,
    StripeSubscription,
    SubscriptionItem,
)
from worker.sync import bulk, shapes
from worker.sync.linking import link_rows

log = get_logger(__name__)
Json = dict[str, Any]
#: When each object changed: one time for the whole batch (None: the sync's stamp), or a time
#: per object id (an incremental sync writes objects re-fetched for events of different times).
ChangedAt = datetime | None | Mapping[str, datetime | None]


def _when(changed_at: ChangedAt, object_id: str, stamp: datetime) -> datetime:
    at = changed_at.get(object_id) if isinstance(changed_at, Mapping) else changed_at
    return at or stamp


@dataclass
class Quarantined:
    object_type: str
    object_id: str
    reason: str


@dataclass
class WriteResult:
    """How many objects changed, the contacts they belong to, and those contacts per object."""

    changed: int = 0
    contacts: set[str] = field(default_factory=set)
    by_object: dict[str, set[str]] = field(default_factory=dict)

    def add(self, object_id: str, contacts: set[str]) -> None:
        contacts = {c for c in contacts if c}
        self.by_object.setdefault(object_id, set()).update(contacts)
        self.contacts.update(contacts)


def upsert(session: Session, model: type, rows: list[Json]) -> None:
    """INSERT … ON CONFLICT (primary key) DO UPDATE every other column, for a batch."""
    bulk.upsert(session, model.__table__, rows)


def _ids() -> Any:
    """One expanding parameter for `IN (…)`: the statements below are built once, so a batch
    of 500 ids is bound as a list instead of being coerced into 500 expressions per call."""
    return bindparam("ids", expanding=True)


# The per-batch reads and the item delete go through the driver (bulk.rows_in); `raw` comes
# back as JSON text on SQLite, parsed with orjson (the stdlib json of the JSON type was most of
# a repeated sync's cost).
# `{account}` is the account's bound parameter (every statement reads one account's rows).
_STORED_CUSTOMERS = ("SELECT id, raw, deleted, contact_id FROM stripe_customers "
                     "WHERE account = {account} AND id IN ({ids})")
_STORED_SUBSCRIPTIONS = ("SELECT id, raw, deleted, customer_id FROM stripe_subscriptions "
                         "WHERE account = {account} AND id IN ({ids})")
_DELETE_ITEMS = "DELETE FROM subscription_items WHERE account = {account} AND subscription_id IN ({ids})"
_OWNERS = ("SELECT id, contact_id FROM stripe_customers WHERE account = {account} AND id IN ({ids}) "
           "AND contact_id IS NOT NULL")
_TOUCH = {model: update(model.__table__).where(model.__table__.c.account == bindparam("of_account"),
                                               model.__table__.c.id.in_(_ids()))
          for model in (StripeCustomer, StripeSubscription)}


def _touch(session: Session, model: type, ids: list[str], stamp: datetime, account: str) -> None:
    if ids:
        session.flush()  # pending ORM changes first, as the ORM's autoflush would
        session.execute(_TOUCH[model].values(synced_at=stamp), {"ids": ids, "of_account": account})


class _StoredCustomer(NamedTuple):
    id: str
    raw: Any
    deleted: Any  # 0/1 on SQLite, bool on PostgreSQL
    contact_id: str | None


class _StoredSubscription(NamedTuple):
    id: str
    raw: Any
    deleted: Any
    customer_id: str


def _stored(session: Session, sql: str, ids: list[str], kind: type, account: str) -> dict[str, Any]:
    """id -> the stored row (`kind`, `raw` parsed) of those among `ids` already stored."""
    return {row[0]: kind(row[0], bulk.loads(row[1]), row[2], row[3])
            for row in bulk.rows_in(session, sql, ids, account=account)}


def write_customers(session: Session, raws: list[Json], config: ContactsConfig, *, stamp: datetime,
                    changed_at: ChangedAt, account: str = DEFAULT_ACCOUNT) -> WriteResult:
    """Upsert customers (linking each to its contact); deleted ones become tombstones."""
    result = WriteResult()
    if not raws:
        return result
    ids = [r["id"] for r in raws]
    stored = _stored(session, _STORED_CUSTOMERS, ids, _StoredCustomer, account)
    rows, unchanged = [], []
    for raw in raws:
        old = stored.get(raw["id"])
        if raw.get("deleted"):
            if old is not None and not old.deleted:
                at = _when(changed_at, raw["id"], stamp)
                result.add(raw["id"], _tombstone_customer(session, raw["id"], stamp, at, account)[1])
                result.changed += 1
            continue
        if old is not None and old.raw == raw and not old.deleted:
            unchanged.append(raw["id"])
            continue
        rows.append({**shapes.customer_row(raw), "account": account, "synced_at": stamp, "written_at": stamp,
                     "changed_at": _when(changed_at, raw["id"], stamp)})
        if old is not None and old.contact_id:
            result.add(raw["id"], {old.contact_id})
    link_rows(session, rows, config, stamp)
    upsert(session, StripeCustomer, rows)
    _touch(session, StripeCustomer, unchanged, stamp, account)
    result.changed += len(rows)
    for row in rows:
        result.add(row["id"], {row["contact_id"]})
    queue_contacts(session, result.contacts, stamp)  # in this transaction: see worker.store.evaluation_queue
    return result


def _tombstone_customer(session: Session, cid: str, stamp: datetime,
                        at: datetime | None, account: str) -> tuple[bool, set[str]]:
    row = session.get(StripeCustomer, (account, cid))
    if row is None or row.deleted:
        return False, set()
    row.deleted, row.synced_at, row.written_at, row.changed_at = True, stamp, stamp, at or stamp
    return True, {row.contact_id} if row.contact_id else set()


def _tombstone_subscription(session: Session, sid: str, stamp: datetime,
                            at: datetime | None, account: str) -> tuple[bool, set[str]]:
    row = session.get(StripeSubscription, (account, sid))
    if row is None or row.deleted:
        return False, set()
    row.deleted, row.synced_at, row.written_at, row.changed_at = True, stamp, stamp, at or stamp
    return True, _contacts_of(session, [row.customer_id], account)


def tombstone(session: Session, object_type: str, object_id: str, stamp: datetime,
              at: datetime | None, account: str = DEFAULT_ACCOUNT) -> tuple[bool, set[str]]:
    """Mark one customer or subscription deleted (kept, flagged): (changed?, affected contacts),
    the contacts queued for evaluation."""
    if object_type == "customer":
        changed, contacts = _tombstone_customer(session, object_id, stamp, at, account)
    elif object_type == "subscription":
        changed, contacts = _tombstone_subscription(session, object_id, stamp, at, account)
    else:
        return False, set()
    queue_contacts(session, contacts, stamp)
    return changed, contacts


def _contacts_of(session: Session, customer_ids: list[str], account: str) -> set[str]:
    return set(_owners(session, customer_ids, account).values())


def _owners(session: Session, customer_ids: list[str], account: str) -> dict[str, str]:
    """customer id → its contact id, for the linked ones among `customer_ids` (of `account`)."""
    if not customer_ids:
        return {}
    return {row[0]: row[1] for row in bulk.rows_in(session, _OWNERS, list(set(customer_ids)), account=account)}


def write_subscriptions(session: Session, raws: list[Json], *, stamp: datetime,
                        changed_at: ChangedAt, account: str = DEFAULT_ACCOUNT) -> WriteResult:
    """Upsert complete subscriptions and replace their items."""
    result = WriteResult()
    if not raws:
        return result
    ids = [r["id"] for r in raws]
    stored = _stored(session, _STORED_SUBSCRIPTIONS, ids, _StoredSubscription, account)
    rows, unchanged = [], []
    items: list[Json] = []
    customers: dict[str, list[str]] = {}  # subscription id → its customer, before and now
    for raw in raws:
        old = stored.get(raw["id"])
        if old is not None and old.raw == raw and not old.deleted:
            unchanged.append(raw["id"])
            continue
        row = shapes.subscription_row(raw)  # a new dict: completed in place, not copied
        row["account"], row["synced_at"], row["written_at"] = account, stamp, stamp
        row["changed_at"] = _when(changed_at, raw["id"], stamp)
        rows.append(row)
        items.extend({**item, "account": account} for item in shapes.item_rows(raw))
        customers[raw["id"]] = [row["customer_id"], *([old.customer_id] if old is not None else [])]
    changed_ids = [r["id"] for r in rows]
    if changed_ids:
        bulk.rows_in(session, _DELETE_ITEMS, changed_ids, account=account)
    upsert(session, StripeSubscription, rows)
    upsert(session, SubscriptionItem, _dedupe(items))
    _touch(session, StripeSubscription, unchanged, stamp, account)
    result.changed = len(rows)
    owners = _owners(session, [c for ids in customers.values() for c in ids], account)
    for sid, ids in customers.items():
        result.add(sid, {owners[c] for c in ids if c in owners})
    queue_contacts(session, result.contacts, stamp)
    return result


def _dedupe(rows: list[Json]) -> list[Json]:
    """One row per id (the last wins): an item id is unique across subscriptions in Stripe."""
    return list({row["id"]: row for row in rows}.values())


def write_prices(session: Session, raws: list[Json], *, stamp: datetime, account: str = DEFAULT_ACCOUNT) -> int:
    rows = [{**shapes.price_row(r), "account": account, "synced_at": stamp} for r in raws]
    upsert(session, StripePrice, rows)
    return len(rows)


def write_products(session: Session, raws: list[Json], *, stamp: datetime, account: str = DEFAULT_ACCOUNT) -> int:
    rows = [{**shapes.product_row(r), "account": account, "synced_at": stamp} for r in raws]
    upsert(session, StripeProduct, rows)
    return len(rows)


def touch(session: Session, object_type: str, ids: list[str], stamp: datetime,
          account: str = DEFAULT_ACCOUNT) -> None:
    """Mark stored objects as seen by this full sync (quarantined ones keep their last good state)."""
    model = {"customer": StripeCustomer, "subscription": StripeSubscription}.get(object_type)
    if model is not None:
        _touch(session, model, ids, stamp, account)


def quarantine(session: Session, item: Quarantined, raw: Any, now: datetime,
               account: str = DEFAULT_ACCOUNT) -> None:
    """Keep an unreadable object, redacted, with its reason; count repeat sightings."""
    safe = _redacted(raw)
    row = session.scalar(select(Quarantine).where(
        Quarantine.account == account, Quarantine.object_type == item.object_type,
        Quarantine.object_id == item.object_id))
    if row is None:
        session.add(Quarantine(account=account, object_type=item.object_type, object_id=item.object_id,
                               reason=item.reason, raw=safe, first_seen_at=now, last_seen_at=now, count=1))
    else:
        row.reason, row.raw, row.last_seen_at, row.resolved_at = item.reason, safe, now, None
        row.count = (row.count or 0) + 1
    log.warning("stripe_object_quarantined", account=account, object_type=item.object_type,
                object_id=item.object_id, reason=item.reason)


def resolve_quarantine(session: Session, object_type: str, ids: list[str], now: datetime,
                       account: str = DEFAULT_ACCOUNT) -> None:
    """Objects that now sync cleanly leave quarantine."""
    if ids:
        session.execute(update(Quarantine).where(
            Quarantine.account == account, Quarantine.object_type == object_type, Quarantine.object_id.in_(ids),
            Quarantine.resolved_at.is_(None)).values(resolved_at=now))


def _redacted(raw: Any) -> Any:
    """The object as JSON any database stores: secrets masked, NUL bytes and unpaired
    surrogates (likely what made it unstorable) replaced, nesting cut at 64 levels."""
    try:
        text = json.dumps(_storable(raw), default=str)
    except (TypeError, ValueError, RecursionError):
        return {"unreadable": _storable(redact(repr(raw)[:2000]))}
    return json.loads(redact(text)) if isinstance(raw, (dict, list)) else {"value": redact(text)}


def _storable(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
    if depth >= 64 and isinstance(value, (dict, list)):
        return "(nested too deep)"
    if isinstance(value, dict):
        return {_storable(str(k)): _storable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v, depth + 1) for v in value]
    return value
