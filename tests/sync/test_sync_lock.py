"""Only one sync per database at a time, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from worker.rules.model import SourceConfig
from worker.stripe_api.transport import StripeApi
from worker.sync import SyncBusy, run_sync
from worker.sync.lock import sync_lock


def test_a_second_sync_is_refused_while_one_runs(store):
    api = StripeApi.connect("sk_test_unused", "http://127.0.0.1:9")  # never reached
    with sync_lock(store), pytest.raises(SyncBusy, match="Another sync"):
        run_sync(store, api, SourceConfig(), full=True, now=datetime(2026, 11, 25, tzinfo=UTC))
    assert api.requests == 0
    with sync_lock(store):  # released: taken again
        pass


def test_accounts_sync_at_the_same_time_but_each_one_once(store):
    """Each Stripe account has its own lock (issue #18 point 6): account b syncs while a does;
    a second sync of a is refused, naming the account."""
    api = StripeApi.connect("sk_test_unused", "http://127.0.0.1:9")  # never reached
    with sync_lock(store, "a"):
        with sync_lock(store, "b"), sync_lock(store):  # b and default are not blocked by a
            pass
        with pytest.raises(SyncBusy, match="Another sync of the Stripe account 'a' is running"):
            run_sync(store, api, SourceConfig(), full=True, now=datetime(2026, 11, 25, tzinfo=UTC), account="a")
    assert api.requests == 0
