"""One sync at a time per database (wiring).

The scheduler's poll, a daily reconcile and a `sync` typed by hand must not page and move the
cursor together: a database-wide lock (worker.store.locks). A busy lock raises `SyncBusy` at once —
actors skip that tick, the CLI says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from worker.errors import LifecycleError
from worker.store.db import Store
from worker.store.locks import database_lock


class SyncBusy(LifecycleError):
    """Another sync holds the lock."""

    exit_code = 1


def _busy() -> SyncBusy:
    return SyncBusy("Another sync of this database is running.",
                    fix="Wait for it to finish (the scheduler polls every minute), then run again.",
                    retryable=True)


@contextmanager
def sync_lock(store: Store) -> Iterator[None]:
    with database_lock(store.engine, "sync", wait=False) as taken:
        if not taken:
            raise _busy()
        yield
