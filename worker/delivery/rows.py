"""The SQL of the outbox (store adapter): insert, claim with a lease, order check, finish, scans.

Every statement is a single-row or id-list Core statement that works on PostgreSQL and SQLite
alike. Claiming is one conditional UPDATE — `WHERE state is active AND due AND the lease is
free` — so when two workers hold messages for the same delivery only one of them gets it:
PostgreSQL re-checks the WHERE clause after the first writer commits, SQLite serialises writers.
Finishing is fenced by the lease value the claimer wrote, so a worker whose lease ran out and
was taken over cannot overwrite the new holder's result.

The `*_many` statements serve a batch (`worker.delivery.batch`): one claim, one context query
and one "delivered" update for a whole list of ids, with one lease value for the batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    and_,
    bindparam,
    func,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from worker.store.models import Delivery, Firing

DELIVERIES = Delivery.__table__
FIRINGS = Firing.__table__
ACTIVE = ("pending", "retrying")
Executor = Session | Connection
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


def _claimable(now: Any):
    return and_(
        DELIVERIES.c.state.in_(ACTIVE),
        DELIVERIES.c.next_attempt_at <= now,
        or_(DELIVERIES.c.lease_until.is_(None), DELIVERIES.c.lease_until < now),
    )


# The per-delivery statements are built once (bound parameters), not per message: building
# SQLAlchemy constructs costs more CPU than the database round trip they make.
_NOW = bindparam("now", type_=DELIVERIES.c.next_attempt_at.type)
_CLAIM = (update(DELIVERIES).where(DELIVERIES.c.id == bindparam("delivery_id"), _claimable(_NOW))
          .values(lease_until=bindparam("lease_until")).returning(*DELIVERIES.c))
_STATE = select(DELIVERIES.c.state, DELIVERIES.c.next_attempt_at, DELIVERIES.c.lease_until).where(
    DELIVERIES.c.id == bindparam("delivery_id"))
_EARLIER = (DELIVERIES.c.contact_id == bindparam("contact_id"), DELIVERIES.c.target == bindparam("target"),
            DELIVERIES.c.id < bindparam("delivery_id"), DELIVERIES.c.state.in_(ACTIVE))
_BLOCKERS = (
    select(func.count()).where(*_EARLIER).scalar_subquery().label("blockers"),
    type_coerce(select(func.max(DELIVERIES.c.next_attempt_at)).where(*_EARLIER).scalar_subquery(),
                DELIVERIES.c.next_attempt_at.type).label("blocker_due"),
)
_CONTEXT_PUSH = select(*_BLOCKERS)
_CONTEXT_ACTION = select(*_BLOCKERS, *_FIRING_COLUMNS).where(FIRINGS.c.id == bindparam("firing_id"))
_RESULT_COLUMNS = ("state", "attempts", "last_error", "next_attempt_at", "enqueued_at", "delivered_at")
_FINISH = (update(DELIVERIES)
           .where(DELIVERIES.c.id == bindparam("delivery_id"), DELIVERIES.c.lease_until == bindparam("held"))
           .values(lease_until=None, **{name: bindparam(f"new_{name}") for name in _RESULT_COLUMNS}))


# The batch statements: the same conditions over an id list (an expanding IN, both dialects).
_IDS = bindparam("ids", expanding=True)
_CLAIM_MANY = (update(DELIVERIES).where(DELIVERIES.c.id.in_(_IDS), _claimable(_NOW))
               .values(lease_until=bindparam("lease_until")).returning(*DELIVERIES.c))
_STATES = select(DELIVERIES.c.id, DELIVERIES.c.state, DELIVERIES.c.next_attempt_at).where(DELIVERIES.c.id.in_(_IDS))
_ROW, _OTHER = DELIVERIES.alias("row"), DELIVERIES.alias("earlier")
_EARLIER_OF_ROW = (_OTHER.c.contact_id == _ROW.c.contact_id, _OTHER.c.target == _ROW.c.target,
                   _OTHER.c.id < _ROW.c.id, _OTHER.c.state.in_(ACTIVE))
_CONTEXT_MANY = (
    select(_ROW.c.id.label("context_of"),
           select(func.count()).select_from(_OTHER).where(*_EARLIER_OF_ROW).scalar_subquery().label("blockers"),
           type_coerce(select(func.max(_OTHER.c.next_attempt_at)).where(*_EARLIER_OF_ROW).scalar_subquery(),
                       DELIVERIES.c.next_attempt_at.type).label("blocker_due"),
           *_FIRING_COLUMNS)
    .select_from(_ROW.outerjoin(FIRINGS, FIRINGS.c.id == _ROW.c.firing_id))
    .where(_ROW.c.id.in_(_IDS))
)
_DELIVERED_MANY = (update(DELIVERIES)
                   .where(DELIVERIES.c.id.in_(_IDS), DELIVERIES.c.lease_until == bindparam("held"))
                   .values(state="delivered", attempts=DELIVERIES.c.attempts + 1,
                           delivered_at=bindparam("delivered_at", type_=DELIVERIES.c.delivered_at.type),
                           lease_until=None)
                   .returning(DELIVERIES.c.id))
_RELEASE_MANY = (update(DELIVERIES)
                 .where(DELIVERIES.c.id.in_(_IDS), DELIVERIES.c.lease_until == bindparam("held"))
                 .values(lease_until=None))


def claim(conn: Executor, delivery_id: int, now: datetime, lease_until: datetime) -> Row | None:
    """Take the lease on a due, active, unleased delivery and return it; None when not claimable."""
    return conn.execute(_CLAIM, {"delivery_id": delivery_id, "now": now, "lease_until": lease_until}).first()


def state_of(conn: Executor, delivery_id: int) -> Row | None:
    """State, due time and lease of one delivery (to explain a failed claim)."""
    return conn.execute(_STATE, {"delivery_id": delivery_id}).first()


def context_of(conn: Executor, delivery: Row) -> Row:
    """In one query: how many earlier deliveries of the same contact and target are still
    active (`blockers`) and the latest next-attempt time among them (`blocker_due`) — they
    must go first, order per contact — plus, for an action, its firing's fields."""
    params = {"contact_id": delivery.contact_id, "target": delivery.target, "delivery_id": delivery.id}
    if delivery.firing_id is None:
        return conn.execute(_CONTEXT_PUSH, params).one()
    return conn.execute(_CONTEXT_ACTION, {**params, "firing_id": delivery.firing_id}).one()


def finish(conn: Executor, delivery: Any, lease_until: datetime, **values: Any) -> bool:
    """Write an attempt's result and release the lease, if this worker still holds it.

    `delivery` is the claimed row; columns not in `values` keep its values."""
    params = {f"new_{name}": values.get(name, getattr(delivery, name)) for name in _RESULT_COLUMNS}
    return conn.execute(_FINISH, {**params, "delivery_id": delivery.id, "held": lease_until}).rowcount == 1


def claim_many(conn: Executor, ids: Sequence[int], now: datetime, lease_until: datetime) -> list[Row]:
    """`claim` for a list of ids in one UPDATE: the claimable ones, leased until `lease_until`
    (one value for the whole batch), in id order. Rows of `ids` not returned were not claimable."""
    found = conn.execute(_CLAIM_MANY, {"ids": list(ids), "now": now, "lease_until": lease_until}).all()
    return sorted(found, key=lambda row: row.id)


def states_of(conn: Executor, ids: Sequence[int]) -> dict[int, Row]:
    """State and due time of each of `ids` that exists (to explain failed claims)."""
    return {row.id: row for row in conn.execute(_STATES, {"ids": list(ids)})}


def contexts_of(conn: Executor, claimed: Sequence[Row]) -> dict[int, Row]:
    """`context_of` for many claimed rows in one query, by delivery id (the `context_of` column)."""
    if not claimed:
        return {}
    return {row.context_of: row for row in conn.execute(_CONTEXT_MANY, {"ids": [r.id for r in claimed]})}


def finish_delivered(conn: Executor, ids: Sequence[int], lease_until: datetime, delivered_at: datetime) -> set[int]:
    """Mark the rows of a batch delivered (attempts + 1) and release them, in one statement,
    fenced by the batch's lease; the ids this worker still held (and so recorded)."""
    if not ids:
        return set()
    params = {"ids": list(ids), "held": lease_until, "delivered_at": delivered_at}
    return set(conn.execute(_DELIVERED_MANY, params).scalars())


def release(conn: Executor, ids: Sequence[int], lease_until: datetime) -> None:
    """Give up the lease on rows of a batch that were not attempted (no attempt counted)."""
    if ids:
        conn.execute(_RELEASE_MANY, {"ids": list(ids), "held": lease_until})


def due_streams(session: Session, now: datetime, *, after_id: int = 0,
                limit: int = 500) -> list[tuple[int, str, str]]:
    """Active deliveries due at `now` and not leased, in creation order after `after_id`, as
    (id, contact_id, target): the embedded loop batches them without splitting a stream."""
    stmt = (select(DELIVERIES.c.id, DELIVERIES.c.contact_id, DELIVERIES.c.target)
            .where(_claimable(now), DELIVERIES.c.id > after_id).order_by(DELIVERIES.c.id).limit(limit))
    return [tuple(row) for row in session.execute(stmt)]


def stale_ids(session: Session, now: datetime, stale: timedelta, *, limit: int = 1000) -> list[int]:
    """Due, unleased active deliveries with no queue message expected since `now - stale`."""
    stmt = (select(DELIVERIES.c.id).where(
        _claimable(now),
        or_(DELIVERIES.c.enqueued_at.is_(None), DELIVERIES.c.enqueued_at < now - stale),
    ).order_by(DELIVERIES.c.id).limit(limit))
    return list(session.scalars(stmt))


def mark_enqueued(session: Session, ids: Sequence[int], at: datetime | None = None) -> None:
    """Record that a message for each id was sent (`at`), or is due at the row's next attempt."""
    for chunk in chunks(ids, 500):
        value = at if at is not None else DELIVERIES.c.next_attempt_at
        session.execute(update(DELIVERIES).where(DELIVERIES.c.id.in_(chunk)).values(enqueued_at=value))


def chunks(ids: Iterable[int], size: int) -> Iterable[list[int]]:
    chunk: list[int] = []
    for value in ids:
        chunk.append(value)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
