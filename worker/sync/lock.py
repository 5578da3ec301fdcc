"""One sync at a time per database (wiring).

The scheduler's poll, a daily reconcile and a `sync` typed by hand must not page and move the
cursor together. PostgreSQL: a session advisory lock held on its own connection. SQLite: an
exclusive `flock` on a file beside the database. A busy lock raises `SyncBusy` at once —
actors skip that tick, the CLI says so.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from worker.errors import LifecycleError
from worker.store.db import Store

_PG_SYNC_LOCK = 0x5171_5C3  # distinct from the migration lock


class SyncBusy(LifecycleError):
    """Another sync holds the lock."""

    exit_code = 1


def _busy() -> SyncBusy:
    return SyncBusy("Another sync of this database is running.",
                    fix="Wait for it to finish (the scheduler polls every minute), then run again.",
                    retryable=True)


@contextmanager
def sync_lock(store: Store) -> Iterator[None]:
    engine = store.engine
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            if not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _PG_SYNC_LOCK}).scalar():
                raise _busy()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_SYNC_LOCK})
                conn.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    with open(Path(f"{database}.sync.lock"), "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _busy() from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
