"""One sync at a time per Stripe account and database (wiring).

The scheduler's poll, a daily reconcile and a `sync` typed by hand must not page and move the
cursor together: a database-wide lock per account (worker.store.locks), so accounts sync in
parallel. A busy lock raises `SyncBusy` at once —
actors skip that tick, the CLI says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from worker.errors import LifecycleError
from worker.store.db import Store
from worker.store.locks import database_lock
from worker.store.models import DEFAULT_ACCOUNT
from worker.sync.accounts import lock_name


class SyncBusy(LifecycleError):
    """Another sync holds the lock."""

    exit_code = 1


def _busy(account: str) -> SyncBusy:
    which = "this database" if account == DEFAULT_ACCOUNT else f"the Stripe account '{account}'"
    return SyncBusy(f"Another sync of {which} is running.",
                    fix="Wait for it to finish (the scheduler polls every minute), then run again.",
                    retryable=True)


@contextmanager
def sync_lock(store: Store, account: str = DEFAULT_ACCOUNT) -> Iterator[None]:
    with database_lock(store.engine, lock_name(account), wait=False) as taken:
        if not taken:
            raise _busy(account)
        yield
