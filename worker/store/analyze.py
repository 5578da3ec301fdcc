"""ANALYZE on PostgreSQL as a long pass fills tables.

Why: PostgreSQL plans from statistics, and a table a first pass fills from empty has none
until (auto)analyze runs — and autovacuum may be off or slow. Measured at 300,000 customers:
the first evaluation pass's `DELETE FROM contact_times WHERE contact_id IN (…)` was planned as
a sequential scan comparing every row with 500 parameters (≈ 2.5 s per statement, the pass
quadratic). ANALYZE after the 2nd, 4th, 8th … chunk keeps the plans right for a handful of
ANALYZEs per pass (each samples a fixed number of rows); SQLite plans without statistics.
"""

from __future__ import annotations

from collections.abc import Iterable

from functools import cache

from sqlalchemy import JSON, text
from sqlalchemy.orm import Session

from worker.store.models import Base

#: What an evaluation pass writes (worker.compute.history, worker.automations.firing).
STATE_TABLES = ("contact_state", "contact_times", "contact_history", "subscription_history", "firings",
                "deliveries", "evaluation_queue")


def due(chunks_done: int) -> bool:
    """After the 2nd, 4th, 8th … chunk: as the tables double (one-chunk passes never)."""
    return chunks_done >= 2 and chunks_done & (chunks_done - 1) == 0


def analyze(session: Session, tables: Iterable[str] = STATE_TABLES) -> bool:
    """ANALYZE these tables on PostgreSQL (in the session's transaction); False elsewhere."""
    if session.get_bind().dialect.name != "postgresql":
        return False
    for table in tables:
        session.execute(text(statement(table)))
    return True


@cache
def statement(table: str) -> str:
    """`ANALYZE table (every column but JSON ones)`: the planner reads no statistics of a whole
    JSON document, and sampling the Stripe objects' `raw` (kilobytes each, compared as JSONB
    values) was most of a backfill's ANALYZE time. A table the models do not know: all columns."""
    known = Base.metadata.tables.get(table)
    if known is None:
        return f"ANALYZE {table}"
    columns = [c.name for c in known.columns if not isinstance(c.type, JSON)]
    return f"ANALYZE {table} ({', '.join(columns)})"
