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

from sqlalchemy.orm import Session

from worker.store.models import EvaluationQueue

_CHUNK = 500
#: One statement for any number of ids on PostgreSQL (the ids as one array parameter): a
#: multi-row VALUES insert was compiled anew by SQLAlchemy and re-parsed by the driver for
#: every batch, 18% of a backfill's CPU (issue #18).
_PG = ("INSERT INTO evaluation_queue (contact_id, queued_at) SELECT unnest(%b::text[]), %s "
       "ON CONFLICT (contact_id) DO NOTHING")
_SQLITE = "INSERT INTO evaluation_queue (contact_id, queued_at) VALUES (?, ?) ON CONFLICT (contact_id) DO NOTHING"


def queue_contacts(session: Session, contact_ids: Iterable[str], now: datetime) -> int:
    """Queue these contacts (already queued ones keep their time); how many were given."""
    ids = sorted({c for c in contact_ids if c})
    if not ids:
        return 0
    session.flush()  # a contact row added through the ORM in this transaction exists first
    connection = session.connection()
    dialect = connection.dialect
    queued_at = EvaluationQueue.__table__.c.queued_at.type.bind_processor(dialect)
    at = queued_at(now) if queued_at else now
    if dialect.name == "postgresql":
        for start in range(0, len(ids), 10 * _CHUNK):
            connection.exec_driver_sql(_PG, (ids[start:start + 10 * _CHUNK], at))
    else:
        connection.exec_driver_sql(_SQLITE, [(c, at) for c in ids])
    return len(ids)
