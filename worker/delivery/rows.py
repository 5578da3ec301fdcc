"""The SQL of the outbox (store adapter): insert, claim with a lease, order check, finish, scans.

Every statement is a single-row or id-list Core statement that works on PostgreSQL and SQLite
alike. Claiming is one conditional UPDATE — `WHERE state is active AND due AND the lease is
free` — so when two workers hold messages for the same delivery only one of them gets it:
PostgreSQL re-checks the WHERE clause after the first writer commits, SQLite serialises writers.
Finishing is fenced by the lease value the claimer wrote, so a worker whose lease ran out and
was taken over cannot overwrite the new holder's result.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from worker.store.models import Delivery, Firing

DELIVERIES = Delivery.__table__
FIRINGS = Firing.__table__
ACTIVE = ("pending", "retrying")
FINAL = ("delivered", "dead")

_FIRING_COLUMNS = (
    FIRINGS.c.automation, FIRINGS.c.trigger, FIRINGS.c.occurrence, FIRINGS.c.arm, FIRINGS.c.fired_at,
    FIRINGS.c.snapshot, FIRINGS.c.subscription_id,
)


def insert_delivery(session: Session, *, firing_id: int | None, contact_id: str, kind: str, handler: str,
                    target: str, idempotency_key: str, payload: dict[str, Any], now: datetime) -> int | None:
    """Insert a pending delivery due at `now`; None when its idempotency key already exists."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(DELIVERIES).values(
        firing_id=firing_id, contact_id=contact_id, kind=kind, handler=handler, target=target,
        idempotency_key=idempotency_key, payload=payload, state="pending", attempts=0,
        next_attempt_at=now, created_at=now,
    ).on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(DELIVERIES.c.id)
    return session.execute(stmt).scalar_one_or_none()


def _claimable(now: datetime):  # noqa: ANN202
    return and_(
        DELIVERIES.c.state.in_(ACTIVE),
        DELIVERIES.c.next_attempt_at <= now,
        or_(DELIVERIES.c.lease_until.is_(None), DELIVERIES.c.lease_until < now),
    )


def claim(session: Session, delivery_id: int, now: datetime, lease_until: datetime) -> bool:
    """Take the lease on a due, active, unleased delivery; False when it is not claimable."""
    stmt = (update(DELIVERIES).where(DELIVERIES.c.id == delivery_id, _claimable(now))
            .values(lease_until=lease_until))
    return session.execute(stmt).rowcount == 1


def state_of(session: Session, delivery_id: int) -> Row | None:
    """State, due time and lease of one delivery (to explain a failed claim)."""
    stmt = select(DELIVERIES.c.state, DELIVERIES.c.next_attempt_at, DELIVERIES.c.lease_until).where(
        DELIVERIES.c.id == delivery_id)
    return session.execute(stmt).first()


def load(session: Session, delivery_id: int) -> Row | None:
    """The delivery with its firing's fields (None for destination pushes) in one query."""
    stmt = (select(DELIVERIES, *_FIRING_COLUMNS)
            .select_from(DELIVERIES.outerjoin(FIRINGS, FIRINGS.c.id == DELIVERIES.c.firing_id))
            .where(DELIVERIES.c.id == delivery_id))
    return session.execute(stmt).first()


def earlier_undelivered(session: Session, delivery: Row) -> tuple[bool, datetime | None]:
    """Whether an earlier delivery of the same contact and target is still active, and the
    latest next-attempt time among those (they must go first: order per contact)."""
    stmt = select(func.count(), func.max(DELIVERIES.c.next_attempt_at)).where(
        DELIVERIES.c.contact_id == delivery.contact_id,
        DELIVERIES.c.target == delivery.target,
        DELIVERIES.c.id < delivery.id,
        DELIVERIES.c.state.in_(ACTIVE),
    )
    count, latest = session.execute(stmt).one()
    return bool(count), latest


def finish(session: Session, delivery_id: int, lease_until: datetime, **values: Any) -> bool:
    """Write an attempt's result and release the lease, if this worker still holds it."""
    stmt = (update(DELIVERIES)
            .where(DELIVERIES.c.id == delivery_id, DELIVERIES.c.lease_until == lease_until)
            .values(lease_until=None, **values))
    return session.execute(stmt).rowcount == 1


def due_ids(session: Session, now: datetime, *, after_id: int = 0, limit: int = 500) -> list[int]:
    """Active deliveries due at `now` and not leased, by id (creation order), after `after_id`."""
    stmt = (select(DELIVERIES.c.id).where(_claimable(now), DELIVERIES.c.id > after_id)
            .order_by(DELIVERIES.c.id).limit(limit))
    return list(session.scalars(stmt))


def stale_ids(session: Session, now: datetime, stale: timedelta, *, limit: int = 1000) -> list[int]:
    """Due, unleased active deliveries with no queue message expected since `now - stale`."""
    stmt = (select(DELIVERIES.c.id).where(
        _claimable(now),
        or_(DELIVERIES.c.enqueued_at.is_(None), DELIVERIES.c.enqueued_at < now - stale),
    ).order_by(DELIVERIES.c.id).limit(limit))
    return list(session.scalars(stmt))


def mark_enqueued(session: Session, ids: Sequence[int], at: datetime | None = None) -> None:
    """Record that a message for each id was sent (`at`), or is due at the row's next attempt."""
    for chunk in _chunks(ids, 500):
        value = at if at is not None else DELIVERIES.c.next_attempt_at
        session.execute(update(DELIVERIES).where(DELIVERIES.c.id.in_(chunk)).values(enqueued_at=value))


def _chunks(ids: Iterable[int], size: int) -> Iterable[list[int]]:
    chunk: list[int] = []
    for value in ids:
        chunk.append(value)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
