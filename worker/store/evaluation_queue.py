"""Queue contacts for the next evaluation pass, in the writer's own transaction (adapter).

Every write to a contact's mirror rows (its Contact row, its Stripe customers and their
subscriptions) queues the contact here, in the same transaction as the write: the scheduled
evaluation pass then takes the queue instead of digesting every contact's rows to find what
changed (issue #18: that scan read every customer and subscription row on every pass). A
write that commits queues; a write that rolls back leaves nothing queued; a crash between
the write and a later callback cannot lose the change. The writers: worker.sync.mirror
(backfill, incremental sync, webhook re-fetch, listed re-fetch, tombstones, every account),
worker.sync.linking (contacts created or linked), worker.sync.slices (names of new contacts)
and worker.contacts.importer.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from worker.store.models import EvaluationQueue

_CHUNK = 500


def queue_contacts(session: Session, contact_ids: Iterable[str], now: datetime) -> int:
    """Queue these contacts (already queued ones keep their time); how many were given."""
    ids = sorted({c for c in contact_ids if c})
    if not ids:
        return 0
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    for start in range(0, len(ids), _CHUNK):
        rows = [{"contact_id": c, "queued_at": now} for c in ids[start:start + _CHUNK]]
        session.execute(insert(EvaluationQueue).values(rows).on_conflict_do_nothing())
    return len(ids)
