"""The first events cursor comes from Stripe's clock, not the worker's: a worker clock ahead of
Stripe's by more than the overlap must not skip the events in between (issue #13)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from stripe_sandbox import Sandbox
from tests.sync.conftest import api_for
from worker.rules.model import SourceConfig
from worker.store.models import StripeCustomer
from worker.sync import run_sync
from worker.sync.incremental import run_incremental
from worker.sync.run import SyncRun, make_source
from worker.sync.state import CURSOR, get_state

STRIPE_NOW = datetime(2026, 11, 1, tzinfo=UTC)
AHEAD = timedelta(hours=2)  # the worker's clock runs two hours ahead of Stripe's


def _customers(store) -> set[str]:
    with store.session() as session:
        return set(session.scalars(select(StripeCustomer.id)))


def test_backfill_of_an_account_without_events_starts_at_stripes_first_event(store):
    with Sandbox(api_key="sk_test_cursor", start=STRIPE_NOW, seed=3) as sb:  # no object, no event yet
        api = api_for(sb)
        run_sync(store, api, SourceConfig(), full=True, now=STRIPE_NOW + AHEAD)
        sb.advance(timedelta(minutes=5))
        customer = sb.create_customer(email="late@example.test", metadata={"account_id": "late"})
        report = run_sync(store, api, SourceConfig(), full=False, now=STRIPE_NOW + AHEAD + timedelta(minutes=5))
    assert report.mode == "incremental" and report.events_applied == 1
    assert customer["id"] in _customers(store)


def test_incremental_without_a_stored_cursor_starts_at_stripes_newest_event(store):
    with Sandbox(api_key="sk_test_cursor", start=STRIPE_NOW, seed=4) as sb:
        first = sb.create_customer(email="first@example.test")
        run = SyncRun(store=store, source=make_source(api_for(sb), store, STRIPE_NOW + AHEAD), config=SourceConfig(),
                      now=STRIPE_NOW + AHEAD)
        run_incremental(run)
        with store.session() as session:
            cursor = get_state(session, CURSOR)
        assert cursor["created"] == first["created"]  # Stripe's time, not the worker's
        sb.advance(timedelta(minutes=3))
        second = sb.create_customer(email="second@example.test")
        later = STRIPE_NOW + AHEAD + timedelta(minutes=3)
        run_incremental(SyncRun(store=store, source=make_source(api_for(sb), store, later), config=SourceConfig(),
                                now=later))
    assert second["id"] in _customers(store)
