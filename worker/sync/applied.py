"""Events a webhook re-fetch already applied, so the poll does not fetch their object again
(adapter; table `applied_events`).

A webhook names its event; its re-fetch reads the object after the event arrived, so the
object as read includes that event. `record` keeps the event id (per Stripe account) once the
re-fetch committed — or once it was skipped because a sync that started after the webhook
arrived had already read the object. The next poll reads the same event from /v1/events:
`applied_ids` tells it which of a changed object's events are already in the mirror, and an
object whose events are all applied is not re-fetched (its cursor still moves past them). An
event whose webhook never arrived, or whose re-fetch failed, is not recorded: the poll
re-fetches its object as before. No Stripe time is compared with ours: rows are kept
`KEEP` after they were written (our clock) and pruned by the poll.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from worker.store.models import AppliedEvent

KEEP = timedelta(days=1)  # far longer than any poll interval; Stripe's own event list keeps 30 days
_CHUNK = 500


def record(session: Session, account: str, event_id: str, object_type: str, object_id: str,
           now: datetime) -> None:
    """Remember that `event_id` of `account` is in the mirror (an existing row stays)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(AppliedEvent).values(
        account=account, event_id=event_id, object_type=object_type, object_id=object_id,
        applied_at=now).on_conflict_do_nothing())


def applied_ids(session: Session, account: str, event_ids: Iterable[str]) -> set[str]:
    """Which of these events of `account` a webhook re-fetch already applied."""
    ids = sorted(set(event_ids))
    found: set[str] = set()
    for start in range(0, len(ids), _CHUNK):
        found.update(session.scalars(select(AppliedEvent.event_id).where(
            AppliedEvent.account == account, AppliedEvent.event_id.in_(ids[start:start + _CHUNK]))))
    return found


def prune(session: Session, now: datetime, keep: timedelta = KEEP) -> int:
    """Forget events applied more than `keep` ago (any account); returns how many."""
    result = session.execute(delete(AppliedEvent).where(AppliedEvent.applied_at < now - keep))
    return int(getattr(result, "rowcount", 0) or 0)
