"""A backfill that fills the allowed rate (issue #18, point 3): lists fetched at once under one
limiter while one writer writes, resumable per list, PostgreSQL tables analysed as they grow."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select, text

from tests.sync.conftest import api_for
from tests.sync.test_sandbox_sync import CONFIG, kill_full_sync
from tests.sync.test_sliced_backfill import same_mirror
from worker.store.db import open_store
from worker.store.models import StripeCustomer, StripeSubscription
from worker.stripe_api.ratelimit import RateLimiter
from worker.sync import run_sync, slices
from worker.sync.backfill import BACKFILL
from worker.sync.fetch import concurrent_pages
from worker.sync.state import get_state, put_state


class Recording(RateLimiter):
    """The real limiter, recording which endpoint each request start counted against, and in
    which thread; a short pause per start gives the other list's thread its turn."""

    def __init__(self):
        super().__init__(1000, endpoint_rps=1000)
        self.starts: list[tuple[str, str]] = []

    def acquire(self, endpoint=None):
        super().acquire(endpoint)
        self.starts.append((endpoint, threading.current_thread().name))
        time.sleep(0.002)


def test_customers_and_subscriptions_are_fetched_at_once_under_one_limiter(sqlite_store, sandbox):
    limiter = Recording()
    report = run_sync(sqlite_store, api_for(sandbox, page_size=10, limiter=limiter), CONFIG, full=True,
                      now=sandbox.clock.now)
    assert report.customers == len(sandbox.store["customer"].objects)
    order = [endpoint for endpoint, _ in limiter.starts]
    first_sub = order.index("/v1/subscriptions")
    last_customer = len(order) - 1 - order[::-1].index("/v1/customers")
    assert first_sub < last_customer  # interleaved, not one list after the other
    threads = {thread.split("@")[0] for endpoint, thread in limiter.starts
               if endpoint in ("/v1/customers", "/v1/subscriptions")}
    assert {"backfill-customers", "backfill-subscriptions"} <= threads  # (each in slices: test_sliced_backfill)
    assert report.requests == len(limiter.starts)  # every request passed the one limiter


def test_a_fetching_error_reaches_the_writer_and_stops_the_other_lists():
    def pages(kind, after):
        if kind == "bad":
            yield [1]
            raise RuntimeError("Stripe went away")
        while True:
            yield [2]

    seen = []
    with pytest.raises(RuntimeError, match="went away"):
        for kind, page in concurrent_pages(pages, {"bad": None, "good": None}, buffer=2):
            seen.append(kind)
    assert "bad" in seen


def test_a_backfill_killed_in_the_concurrent_lists_resumes_each_where_it_stopped(tmp_path, sandbox, database_url):
    """On PostgreSQL the kill comes from a writer lane (worker.sync.writers): it stops the
    backfill with that error, and no stored position runs ahead of committed pages."""
    clean, resumed = open_store(f"sqlite:///{tmp_path / 'clean'}.db"), open_store(database_url)
    try:
        run_sync(clean, api_for(sandbox), CONFIG, full=True, now=sandbox.clock.now)

        kill_full_sync(resumed, sandbox, "subscriptions", 100)
        with resumed.session() as s:
            state = get_state(s, BACKFILL)
            assert any(key.startswith("subscriptions") and after for key, after in state["after"].items())
            assert {"products", "prices"} <= set(state["done"])
            stored = s.scalar(select(func.count()).select_from(StripeSubscription))
        report = run_sync(resumed, api_for(sandbox, page_size=10), CONFIG, full=False, now=sandbox.clock.now)
        assert report.resumed is True and report.subscriptions < len(sandbox.store["subscription"].objects)
        assert stored > 0
        same_mirror(resumed, clean)
    finally:
        clean.engine.dispose()
        resumed.engine.dispose()


def test_a_resume_point_from_the_one_list_at_a_time_backfill_still_resumes(tmp_path, sandbox, monkeypatch):
    clean, resumed = (open_store(f"sqlite:///{tmp_path / name}.db") for name in ("clean", "resumed"))
    try:
        run_sync(clean, api_for(sandbox), CONFIG, full=True, now=sandbox.clock.now)

        monkeypatch.setattr(slices, "SLICES", 1)  # the old backfill read each list whole
        kill_full_sync(resumed, sandbox, "customers", 50)
        monkeypatch.setattr(slices, "SLICES", 4)  # a list begun whole is finished whole
        with resumed.session() as s:  # rewrite the resume point in the old form
            state = get_state(s, BACKFILL)
            old = {"stamp": state["stamp"], "cursor": state["cursor"], "phase": "customers",
                   "after": state["after"]["customers"]}
            put_state(s, BACKFILL, old, sandbox.clock.now)
            s.commit()
        run_sync(resumed, api_for(sandbox), CONFIG, full=False, now=sandbox.clock.now)
        same_mirror(resumed, clean)
    finally:
        clean.engine.dispose()
        resumed.engine.dispose()


@pytest.mark.postgres
def test_postgres_tables_are_analysed_after_the_bulk_phases(postgres_url, sandbox):
    store = open_store(postgres_url)
    try:
        run_sync(store, api_for(sandbox), CONFIG, full=True, now=sandbox.clock.now)
        with store.engine.connect() as conn:
            # ANALYZE writes pg_class.reltuples and pg_stats synchronously (unlike the activity
            # counters): a never-analysed table has reltuples -1 and no column statistics.
            rows = dict(conn.execute(text(
                "SELECT relname, reltuples FROM pg_class WHERE relname IN ('stripe_customers', "
                "'stripe_subscriptions', 'subscription_items', 'stripe_prices', 'stripe_products')")).all())
            assert len(rows) == 5 and all(count > 0 for count in rows.values()), rows
            stats = conn.scalar(text("SELECT count(*) FROM pg_stats WHERE tablename = 'subscription_items' "
                                     "AND attname = 'subscription_id'"))
            assert stats == 1  # the planner knows the column the item delete filters on
        with store.session() as s:
            assert s.scalar(select(func.count()).select_from(StripeCustomer)) >= 250
    finally:
        store.engine.dispose()
