"""Large lists cut into `created` ranges fetched at once (issue #18, point 3; worker.sync.slices):
a sliced backfill stores exactly the objects an unsliced one does, no object is lost or read
twice at a slice edge (Stripe's per-second `created[gte]`/`created[lt]`), and a backfill killed
mid-slice resumes every slice where it stopped. The sandbox over HTTP."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from stripe_sandbox import Sandbox
from tests.sync.conftest import api_for, mirror_state
from tests.sync.test_sandbox_sync import CONFIG, kill_full_sync
from worker.store.db import open_store
from worker.store.models import StripeCustomer
from worker.stripe_api.ratelimit import RateLimiter
from worker.sync import run_sync, slices
from worker.sync.backfill import BACKFILL
from worker.sync.source import StripeSource
from worker.sync.state import get_state


def same_mirror(a, b) -> None:
    assert mirror_state(a) == mirror_state(b)


class Threads(RateLimiter):
    def __init__(self):
        super().__init__(1000, endpoint_rps=1000)
        self.names: set[str] = set()

    def acquire(self, endpoint=None):
        super().acquire(endpoint)
        self.names.add(threading.current_thread().name)


def test_a_sliced_backfill_stores_exactly_what_an_unsliced_one_does(tmp_path, sandbox, monkeypatch):
    whole, sliced = (open_store(f"sqlite:///{tmp_path / name}.db") for name in ("whole", "sliced"))
    try:
        monkeypatch.setattr(slices, "SLICES", 1)
        run_sync(whole, api_for(sandbox, page_size=10), CONFIG, full=True, now=sandbox.clock.now)
        monkeypatch.setattr(slices, "SLICES", 4)
        limiter = Threads()
        report = run_sync(sliced, api_for(sandbox, page_size=10, limiter=limiter), CONFIG, full=True,
                          now=sandbox.clock.now)
        assert {f"backfill-{kind}@{i}" for kind in ("customers", "subscriptions") for i in range(4)} <= limiter.names
        assert report.customers == len(sandbox.store["customer"].objects)  # each read once
        assert report.subscriptions == len(sandbox.store["subscription"].objects)
        same_mirror(whole, sliced)
    finally:
        whole.engine.dispose()
        sliced.engine.dispose()


def test_objects_created_on_a_slice_edge_are_read_exactly_once():
    sb = Sandbox(api_key="sk_test_edges")
    for day in range(6):
        for _ in range(3):  # three customers in the same second, every day
            sb.create_customer(metadata={"account_id": f"d{day}"})
        sb.advance(timedelta(days=1))
    with sb:
        source = StripeSource(api_for(sb, page_size=2))
        created = sorted({c["created"] for c in sb.store["customer"].objects.values()})
        edges = created[1:]  # a boundary on every second holding customers
        state = {"after": {}, "done": [], "slices": {"customers": edges}}
        _, parts = slices.plan(source, state, ["customers"])
        assert len(parts) == len(created)
        read = [c["id"] for part in parts for page in source.pages("customers", created=part.created)
                for c in page]
        assert len(read) == len(set(read)) == 18  # none lost, none twice
        assert slices.boundaries(source, "customers", 3) == []  # 18 customers: one page, not cut


def test_a_backfill_killed_mid_slice_resumes_each_slice_where_it_stopped(tmp_path, sandbox):
    clean, resumed = (open_store(f"sqlite:///{tmp_path / name}.db") for name in ("clean", "resumed"))
    try:
        run_sync(clean, api_for(sandbox), CONFIG, full=True, now=sandbox.clock.now)

        kill_full_sync(resumed, sandbox, "customers", 120)
        with resumed.session() as s:
            state = get_state(s, BACKFILL)
            stored = s.scalar(select(func.count()).select_from(StripeCustomer))
        assert len(state["slices"]["customers"]) == slices.SLICES - 1  # the boundaries, kept for the resume
        started = [k for k, after in state["after"].items() if k.startswith("customers@") and after]
        assert len(started) >= 2 and "customers" not in state["done"]
        assert 0 < stored < len(sandbox.store["customer"].objects)
        report = run_sync(resumed, api_for(sandbox, page_size=10), CONFIG, full=False, now=sandbox.clock.now)
        assert report.resumed is True
        assert report.customers <= len(sandbox.store["customer"].objects) - stored + 10 * 5 * slices.SLICES
        same_mirror(resumed, clean)
    finally:
        clean.engine.dispose()
        resumed.engine.dispose()


@pytest.mark.postgres
def test_writer_lanes_on_postgresql_store_exactly_what_one_writer_does(tmp_path, sandbox, monkeypatch, postgres_url):
    """On PostgreSQL each list kind is written on LANES threads (worker.sync.writers) with one
    array statement per table and batch (worker.sync.bulk): the same mirror, contacts and
    contact names as the single writer on SQLite, every object read once, every writer used."""
    from worker.sync import backfill, writers

    lanes_used: set[str] = set()
    submit = writers.Lanes.submit

    def recording(self, lane, work):  # noqa: ANN001, ANN202
        lanes_used.add(lane)
        return submit(self, lane, work)

    whole, lanes = open_store(f"sqlite:///{tmp_path / 'whole'}.db"), open_store(postgres_url)
    try:
        monkeypatch.setattr(slices, "SLICES", 1)
        run_sync(whole, api_for(sandbox, page_size=10), CONFIG, full=True, now=sandbox.clock.now)
        monkeypatch.setattr(slices, "SLICES", 4)
        monkeypatch.setattr(backfill, "BATCH_PAGES", 1)
        monkeypatch.setattr(writers.Lanes, "submit", recording)
        report = run_sync(lanes, api_for(sandbox, page_size=10), CONFIG, full=True, now=sandbox.clock.now)
        assert {f"{kind}#{i}" for kind in ("customers", "subscriptions") for i in range(backfill.LANES)} <= lanes_used
        assert report.customers == len(sandbox.store["customer"].objects)
        assert report.subscriptions == len(sandbox.store["subscription"].objects)
        same_mirror(whole, lanes)
        with lanes.session() as s:
            state = get_state(s, BACKFILL)
        assert state is None  # finished: every slice and list done
    finally:
        whole.engine.dispose()
        lanes.engine.dispose()

