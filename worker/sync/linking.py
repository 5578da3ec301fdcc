"""Contact linking: each Stripe customer to one of the company's contacts (wiring).

`rules/stripe.yaml` `contacts:` names the customer metadata key holding the company's own id
(`id_metadata_key`), the contact type, and whether an unknown id creates the contact
(`create_missing`, source 'stripe'). Several customers with the same id join one contact;
customers without the key stay unlinked (contact_id NULL).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.rules.model import ContactsConfig
from worker.store.models import Contact, StripeCustomer
from worker.sync import bulk


def contact_key(metadata: dict[str, Any] | None, config: ContactsConfig) -> str | None:
    """The company's own id in a customer's metadata, or None (unlinked)."""
    value = (metadata or {}).get(config.id_metadata_key)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None  # never truncated: up to 500 characters (Stripe's metadata limit)


def link_rows(session: Session, rows: list[dict[str, Any]], config: ContactsConfig, now: datetime) -> None:
    """Set `contact_id` on customer rows (table columns), creating contacts when configured."""
    wanted = {row["id"]: contact_key(row.get("metadata"), config) for row in rows}
    ids = {cid for cid in wanted.values() if cid}
    existing = {row[0] for row in bulk.rows_in(session, "SELECT id FROM contacts WHERE id IN ({ids})", sorted(ids))}
    created: dict[str, dict[str, Any]] = {}
    for row in rows:
        cid = wanted[row["id"]]
        if cid and cid not in existing and cid not in created:
            if not config.create_missing:
                cid = None
            else:
                created[cid] = {"id": cid, "type": config.type, "name": row.get("name"),
                                "email": row.get("email"), "source": "stripe", "created_at": now,
                                "updated_at": now}
        row["contact_id"] = cid
    if created:
        session.flush()
        # in id order: two writers creating the same contacts then wait, never deadlock
        bulk.upsert(session, Contact.__table__, [created[c] for c in sorted(created)], update=False)


def relink_unlinked(session: Session, config: ContactsConfig, contact_ids: Iterable[str]) -> set[str]:
    """Link stored, unlinked customers whose metadata id is one of `contact_ids` (after an import;
    the caller queues the contacts for evaluation: worker.store.evaluation_queue)."""
    wanted = set(contact_ids)
    linked: set[str] = set()
    query = select(StripeCustomer).where(StripeCustomer.contact_id.is_(None))
    for customer in session.scalars(query):
        cid = contact_key(customer.metadata_, config)
        if cid in wanted:
            customer.contact_id = cid
            linked.add(cid)
    return linked
