"""Deliveries for operators: list by state, re-drive dead ones, cancel pending ones, audit.

Shared by the console pages, the JSON API and `stripe-lifecycle deliveries`. A re-drive keeps
the row and so its idempotency key (the receiver sees the same key again and can drop a
duplicate): it goes back to `pending`, due now, with its attempts reset, and the reconciler
(or the `enqueue` hook) sends it. A cancel moves a pending or retrying row to `canceled`, a
terminal state nothing claims. Each change is written to `audit_log` in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from worker.store.db import Store
from worker.store.models import AuditEntry, Delivery, Firing

STATES = ("pending", "retrying", "delivered", "dead", "canceled")
CANCELABLE = ("pending", "retrying")
MAX_PAGE = 200


def delivery_json(row: Delivery, automation: str | None = None) -> dict[str, Any]:
    """One delivery as the API and `deliveries list --json` show it (no payload: it may hold
    personal data the list does not need)."""
    return {
        "id": row.id, "state": row.state, "kind": row.kind, "handler": row.handler, "target": row.target,
        "contact_id": row.contact_id, "firing_id": row.firing_id, "automation": automation,
        "idempotency_key": row.idempotency_key, "attempts": row.attempts,
        "next_attempt_at": _iso(row.next_attempt_at), "last_error": row.last_error,
        "created_at": _iso(row.created_at), "delivered_at": _iso(row.delivered_at),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def list_deliveries(store: Store, *, state: str | None = None, contact_id: str | None = None,
                    handler: str | None = None, limit: int = 50, before_id: int | None = None,
                    offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Newest first, one page (`before_id` keyset or `offset`), and the total matching."""
    limit = max(1, min(limit, MAX_PAGE))
    conditions = []
    if state is not None:
        conditions.append(Delivery.state == state)
    if contact_id:
        conditions.append(Delivery.contact_id == contact_id)
    if handler:
        conditions.append(Delivery.handler == handler)
    with store.session() as session:
        total = session.scalar(select(func.count()).select_from(Delivery).where(*conditions)) or 0
        query = (select(Delivery, Firing.automation).outerjoin(Firing, Firing.id == Delivery.firing_id)
                 .where(*conditions).order_by(Delivery.id.desc()).limit(limit))
        if before_id is not None:
            query = query.where(Delivery.id < before_id)
        elif offset:
            query = query.offset(offset)
        rows = [delivery_json(d, automation) for d, automation in session.execute(query).all()]
    return rows, total


def counts_by_state(store: Store) -> dict[str, int]:
    with store.session() as session:
        found = dict(session.execute(select(Delivery.state, func.count()).group_by(Delivery.state)).all())
    return {state: found.get(state, 0) for state in STATES}


def get_delivery(store: Store, delivery_id: int) -> dict[str, Any] | None:
    with store.session() as session:
        row = session.execute(select(Delivery, Firing.automation).outerjoin(Firing, Firing.id == Delivery.firing_id)
                              .where(Delivery.id == delivery_id)).first()
        return delivery_json(*row) if row else None


def retry(store: Store, ids: Sequence[int] | None, *, actor: str, now: datetime,
          enqueue: Callable[[list[int]], None] | None = None) -> dict[str, list[int]]:
    """Re-drive these dead deliveries (or, with `ids=None`, every dead one). Returns
    {"retried": [...], "skipped": [...]} — skipped ones were not dead (or do not exist)."""
    with store.session() as session:
        query = select(Delivery.id).where(Delivery.state == "dead")
        if ids is not None:
            query = query.where(Delivery.id.in_(list(ids)))
        dead = [row for row in session.scalars(query.order_by(Delivery.id).with_for_update())]
        if dead:
            session.execute(update(Delivery).where(Delivery.id.in_(dead), Delivery.state == "dead").values(
                state="pending", attempts=0, next_attempt_at=now, enqueued_at=None, lease_until=None))
            session.add_all(AuditEntry(at=now, actor=actor, action="delivery.retry", target=f"delivery:{i}",
                                       detail={"from": "dead"}) for i in dead)
    if dead and enqueue is not None:
        enqueue(dead)
    skipped = sorted(set(ids or ()) - set(dead))
    return {"retried": dead, "skipped": skipped}


def cancel(store: Store, ids: Sequence[int], *, actor: str, now: datetime) -> dict[str, list[int]]:
    """Cancel these pending/retrying deliveries; others are skipped (already sent, dead, held
    by a worker right now, or unknown)."""
    with store.session() as session:
        found = session.execute(select(Delivery.id, Delivery.state).where(
            Delivery.id.in_(list(ids)), Delivery.state.in_(CANCELABLE),
            (Delivery.lease_until.is_(None)) | (Delivery.lease_until < now)).with_for_update()).all()
        chosen = [i for i, _ in found]
        if chosen:
            session.execute(update(Delivery).where(Delivery.id.in_(chosen), Delivery.state.in_(CANCELABLE))
                            .values(state="canceled", next_attempt_at=now))
            session.add_all(AuditEntry(at=now, actor=actor, action="delivery.cancel", target=f"delivery:{i}",
                                       detail={"from": state}) for i, state in found)
    return {"canceled": sorted(chosen), "skipped": sorted(set(ids) - set(chosen))}


def audit_entries(store: Store, *, limit: int = 100) -> list[dict[str, Any]]:
    with store.session() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)).all()
        return [{"id": r.id, "at": _iso(r.at), "actor": r.actor, "action": r.action, "target": r.target,
                 "detail": r.detail} for r in rows]
