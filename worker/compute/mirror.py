"""Reading the stored Stripe mirror for the MRR/stage computation (adapter: SQLAlchemy).

Bulk reads only (a few queries per batch of contacts, never one per contact). Everything is
returned as plain dicts/values the pure core understands: customers as Stripe-like dicts,
subscriptions as their stored raw JSON (a tombstoned subscription reads as `canceled`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from worker.core.accounts import ContactInfo
from worker.store.models import (
    Contact,
    ContactHistory,
    ContactState,
    StripeCustomer,
    StripeProduct,
    StripeSubscription,
    SubscriptionHistory,
)

CHUNK = 900  # ids per IN (…) query, well under SQLite's and PostgreSQL's parameter limits


def chunks(values: Sequence[str], size: int = CHUNK) -> Iterator[list[str]]:
    for start in range(0, len(values), size):
        yield list(values[start:start + size])


def contact_chunks(session: Session, size: int, ids: Sequence[str] | None = None) -> Iterator[list[str]]:
    """Every contact's id (or these ids, sorted), `size` at a time, in id order: what a pass over
    everyone walks instead of holding them all. Every contact is read by keyset (`id > last`),
    one short query per chunk, so a caller may commit between chunks."""
    if ids is not None:
        yield from chunks(sorted(set(ids)), size)
        return
    after = ""
    while True:
        part = list(session.scalars(select(Contact.id).where(Contact.id > after).order_by(Contact.id).limit(size)))
        if not part:
            return
        yield part
        after = part[-1]


@dataclass
class CustomerData:
    """One stored customer with its subscriptions, as the pure core reads them."""

    customer: dict[str, Any]  # with `account`: its Stripe account
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    changed_at: list[datetime] = field(default_factory=list)  # Stripe times of their last changes


_CUSTOMER_COLUMNS = (StripeCustomer.account,
                     StripeCustomer.id, StripeCustomer.name, StripeCustomer.email, StripeCustomer.metadata_,
                     StripeCustomer.created, StripeCustomer.deleted, StripeCustomer.contact_id,
                     StripeCustomer.changed_at,
                     # the customer-level discount only (JSON path on both dialects), not all of `raw`
                     StripeCustomer.raw["discount"].label("discount"))
_SUBSCRIPTION_COLUMNS = (StripeSubscription.account,
                         StripeSubscription.customer_id, StripeSubscription.raw, StripeSubscription.deleted,
                         StripeSubscription.changed_at)


def _customer_dict(row: Any) -> dict[str, Any]:
    found = {"id": row.id, "account": row.account, "name": row.name, "email": row.email,
             "metadata": row.metadata_ or {},
             "created": int(row.created.timestamp()) if row.created else 0, "deleted": row.deleted}
    if row.discount:  # `customer.discount`: inherited by its subscriptions without discounts
        found["discount"] = row.discount
    return found


def _subscription_dict(row: Any) -> dict[str, Any]:
    raw = row.raw or {}
    if row.deleted and raw.get("status") != "canceled":
        return {**raw, "status": "canceled"}  # deleted in Stripe: it has ended
    return raw


def unlinked_chunks(session: Session, size: int = CHUNK) -> Iterator[dict[tuple[str, str], CustomerData]]:
    """The unlinked customers (with their subscriptions), `size` at a time by (account, id)
    (keyset), so the report and `accounts --unlinked` never hold them all."""
    after: tuple[str, str] = ("", "")
    while True:
        found = load_customers(session, unlinked=True, after=after, limit=size)
        if not found:
            return
        yield found
        after = max(found)


def load_customers(session: Session, *, contact_ids: Sequence[str] | None = None,
                   unlinked: bool = False, after: tuple[str, str] | None = None,
                   limit: int | None = None) -> dict[tuple[str, str], CustomerData]:
    """Customers (of these contacts, of every contact, or unlinked ones: all, or `limit` of
    them after the (account, id) `after`) with their subscriptions, by (account, customer id):
    ids are unique only within one Stripe account."""
    query = select(*_CUSTOMER_COLUMNS)
    if unlinked:
        query = query.where(StripeCustomer.contact_id.is_(None), StripeCustomer.deleted.is_(False))
        if limit is not None:
            key = tuple_(StripeCustomer.account, StripeCustomer.id)
            query = query.where(key > tuple_(*(after or ("", "")))).order_by(StripeCustomer.account,
                                                                              StripeCustomer.id).limit(limit)
        rows = list(session.execute(query))
    elif contact_ids is None:
        rows = list(session.execute(query.where(StripeCustomer.contact_id.is_not(None))))
    else:
        rows = [r for part in chunks(contact_ids)
                for r in session.execute(query.where(StripeCustomer.contact_id.in_(part)))]
    found = {(row.account, row.id): CustomerData(_customer_dict(row)) for row in rows}
    for row in rows:
        found[(row.account, row.id)].customer["contact_id"] = row.contact_id
        if row.changed_at:
            found[(row.account, row.id)].changed_at.append(row.changed_at)
    for sub in _subscriptions(session, list(found), everything=contact_ids is None and not unlinked):
        data = found.get((sub.account, sub.customer_id))
        if data is not None:
            data.subscriptions.append(_subscription_dict(sub))
            if sub.changed_at:
                data.changed_at.append(sub.changed_at)
    return found


def _subscriptions(session: Session, customers: list[tuple[str, str]], *, everything: bool) -> Iterable[Any]:
    """The subscriptions of these (account, customer id) pairs (read by customer id, matched by
    the caller on both: another account's customer of the same id is skipped there)."""
    query = select(*_SUBSCRIPTION_COLUMNS)
    if everything:
        yield from session.execute(query)
        return
    for part in chunks(sorted({customer_id for _, customer_id in customers})):
        yield from session.execute(query.where(StripeSubscription.customer_id.in_(part)))


def load_contacts(session: Session, contact_ids: Sequence[str] | None) -> dict[str, ContactInfo]:
    query = select(Contact.id, Contact.type, Contact.name, Contact.email)
    if contact_ids is None:
        rows = list(session.execute(query))
    else:
        rows = [r for part in chunks(contact_ids) for r in session.execute(query.where(Contact.id.in_(part)))]
    return {r.id: ContactInfo(r.id, r.type, r.name, r.email) for r in rows}


def mirror_currencies(session: Session) -> set[str]:
    """Every currency a stored subscription uses (lower case)."""
    return {str(c).lower() for c in session.scalars(select(StripeSubscription.currency).distinct()) if c}


def product_names(session: Session) -> dict[str, str]:
    """product id → name, of every account (a custom id used in two accounts: either name)."""
    return {r.id: r.name for r in session.execute(select(StripeProduct.id, StripeProduct.name)) if r.name}


def load_states(session: Session, contact_ids: Sequence[str]) -> dict[str, ContactState]:
    return {s.contact_id: s for part in chunks(contact_ids)
            for s in session.scalars(select(ContactState).where(ContactState.contact_id.in_(part)))}


def last_history_at(session: Session, contact_ids: Sequence[str]) -> dict[str, datetime]:
    """The time of each contact's latest history row (history never goes back in time)."""
    found: dict[str, datetime] = {}
    for part in chunks(contact_ids):
        query = (select(ContactHistory.contact_id, func.max(ContactHistory.at))
                 .where(ContactHistory.contact_id.in_(part)).group_by(ContactHistory.contact_id))
        for contact_id, at in session.execute(query):
            if at is not None:
                found[contact_id] = at if at.tzinfo else at.replace(tzinfo=timezone.utc)
    return found


def status_runs(session: Session, subscription_ids: Sequence[str]) -> dict[str, tuple[str, datetime]]:
    """For each subscription with stored history: its latest status and since when it has had it."""
    runs: dict[str, tuple[str, datetime]] = {}
    for part in chunks(sorted(set(subscription_ids))):
        query = (select(SubscriptionHistory.subscription_id, SubscriptionHistory.status, SubscriptionHistory.at)
                 .where(SubscriptionHistory.subscription_id.in_(part))
                 .order_by(SubscriptionHistory.subscription_id, SubscriptionHistory.at, SubscriptionHistory.id))
        for sub_id, status, at in session.execute(query):
            current = runs.get(sub_id)
            if current is None or current[0] != status:
                runs[sub_id] = (status, at)
    return runs


def group_by_contact(customers: dict[tuple[str, str], CustomerData]) -> dict[str, list[CustomerData]]:
    grouped: dict[str, list[CustomerData]] = defaultdict(list)
    for data in customers.values():
        grouped[data.customer["contact_id"]].append(data)
    return grouped
