"""Sync against the project's Stripe sandbox over real HTTP (current API shape)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.sync.conftest import api_for, mirror_state
from worker.rules.model import ContactsConfig, SourceConfig
from worker.store.db import open_store
from worker.store.models import (
    Quarantine,
    StripeCustomer,
    StripeSubscription,
    SubscriptionItem,
)
from worker.sync import run_sync

CONFIG = SourceConfig()


def _full(store, sb, page_size=100, **kwargs):
    return run_sync(store, api_for(sb, page_size=page_size), kwargs.pop("config", CONFIG), full=True,
                    now=sb.clock.now, **kwargs)


def _incremental(store, sb, page_size=100, **kwargs):
    return run_sync(store, api_for(sb, page_size=page_size), CONFIG, full=False, now=sb.clock.now, **kwargs)


def test_full_backfill_stores_every_customer_and_complete_subscriptions(database_url, sandbox):
    store = open_store(database_url)
    try:
        report = _full(store, sandbox)
        subs = sandbox.store["subscription"].objects
        assert report.customers == len(sandbox.store["customer"].objects) >= 250
        assert report.subscriptions == len(subs) and report.quarantined == []
        with store.session() as s:
            assert s.scalar(select(func.count()).select_from(StripeSubscription)) == len(subs)
            for sub_id, stored in subs.items():
                row = s.get(StripeSubscription, ("default", sub_id))
                assert row.api_shape == "current" and row.status == stored["status"]
                assert [i["id"] for i in row.raw["items"]["data"]] == stored["items"]
                assert row.raw["items"]["has_more"] is False
                _assert_complete(row.raw)
            biggest = max(subs.values(), key=lambda sub: len(sub["items"]))
            assert len(biggest["items"]) >= 12
            count = s.scalar(select(func.count()).select_from(SubscriptionItem)
                             .where(SubscriptionItem.subscription_id == biggest["id"]))
            assert count == len(biggest["items"])
            row = s.get(StripeSubscription, ("default", biggest["id"]))
            ends = [i["current_period_end"] for i in row.raw["items"]["data"]]
            assert int(row.current_period_end.timestamp()) == min(ends)
    finally:
        store.engine.dispose()


def _assert_complete(raw: dict) -> None:
    for item in raw["items"]["data"]:
        price = item["price"]
        assert isinstance(price, dict) and "recurring" in price and "transform_quantity" in price
        assert "plan" not in item  # Stripe's deprecated second copy of the price is not stored
        if price["billing_scheme"] == "tiered":
            assert price["tiers"], f"tiers missing on {price['id']}"
        for discount in item.get("discounts") or []:
            assert isinstance(discount["source"]["coupon"], dict)
    for discount in raw["discounts"]:
        assert isinstance(discount, dict) and isinstance(discount["source"]["coupon"], dict)
        assert "percent_off" in discount["source"]["coupon"]


def test_customers_sharing_an_account_id_join_one_contact_and_others_stay_unlinked(sqlite_store, sandbox):
    _full(sqlite_store, sandbox)
    expected = {c["id"]: (c["metadata"].get("account_id") or None) for c in sandbox.store["customer"].objects.values()}
    with sqlite_store.session() as s:
        linked = dict(s.execute(select(StripeCustomer.id, StripeCustomer.contact_id)).all())
    assert linked == expected
    assert None in linked.values()  # some customers carry no account_id
    shared = [cid for cid in set(linked.values()) if cid and list(linked.values()).count(cid) > 1]
    assert shared, "the generated account has contacts with several Stripe customers"


def test_without_create_missing_unknown_ids_stay_unlinked(sqlite_store, sandbox):
    config = SourceConfig(contacts=ContactsConfig(create_missing=False))
    _full(sqlite_store, sandbox, config=config)
    with sqlite_store.session() as s:
        assert s.scalar(select(func.count()).where(StripeCustomer.contact_id.is_not(None))) == 0


def test_a_repeated_sync_changes_nothing(store, sandbox):
    _full(store, sandbox)
    before = mirror_state(store)
    calls: list = []
    again = _full(store, sandbox, on_changed=lambda contacts, at: calls.append(contacts))
    assert (again.customers_changed, again.subscriptions_changed, again.deleted) == (0, 0, 0)
    assert calls == []
    assert mirror_state(store) == before
    incremental = _incremental(store, sandbox)
    assert incremental.events_applied == 0 and mirror_state(store) == before
    sub = next(iter(sandbox.store["subscription"].objects))
    sandbox.advance(timedelta(seconds=1))
    sandbox.update_subscription(sub, metadata={"tier": "gold"})
    changed = _incremental(store, sandbox)
    assert changed.subscriptions_changed >= 1  # an update (ON CONFLICT DO UPDATE) on this database too
    with store.session() as s:
        assert s.get(StripeSubscription, ("default", sub)).raw["metadata"]["tier"] == "gold"


def test_incremental_sync_refetches_objects_whatever_shape_the_event_payload_has(sqlite_store, sandbox):
    _full(sqlite_store, sandbox)
    sub = next(s for s in sandbox.store["subscription"].objects.values()
               if s["status"] == "active" and len(s["items"]) == 1 and not s["cancel_at_period_end"])
    sandbox.event_api_version = "2024-06-20"  # payloads in the legacy shape from now on
    sandbox.advance(timedelta(seconds=5))
    sandbox.update_subscription(sub["id"], cancel_at_period_end=True)
    sandbox.update_subscription(sub["id"], items=[{"id": sub["items"][0], "quantity": 7}])  # same second
    event = sandbox.events("customer.subscription.updated")[-1]
    assert "current_period_end" in event["data"]["object"]  # the payload really is legacy
    changed: list = []
    report = _incremental(sqlite_store, sandbox, on_changed=lambda contacts, at: changed.append((contacts, at)))
    assert report.mode == "incremental" and report.events_applied >= 2, report
    assert report.subscriptions_changed >= 1, report  # other events (trial_will_end) re-read too
    with sqlite_store.session() as s:
        row = s.get(StripeSubscription, ("default", sub["id"]))
        assert row.api_shape == "current" and "current_period_end" not in row.raw
        assert row.cancel_at_period_end is True
        assert row.raw["items"]["data"][0]["quantity"] == 7
        assert int(row.changed_at.timestamp()) == event["created"]
        contact = s.get(StripeCustomer, ("default", sub["customer"])).contact_id
    if contact:
        assert ({contact}, row.changed_at) in changed, changed


def test_deleted_customers_become_tombstones_and_their_subscriptions_cancel(sqlite_store, sandbox):
    _full(sqlite_store, sandbox)
    customer = next(sandbox.store["subscription"].objects[s]["customer"]
                    for s in sandbox.store["subscription"].objects
                    if sandbox.store["subscription"].objects[s]["status"] == "active")
    sandbox.advance(timedelta(minutes=1))
    sandbox.delete_customer(customer)
    report = _incremental(sqlite_store, sandbox)
    assert report.deleted == 1
    with sqlite_store.session() as s:
        row = s.get(StripeCustomer, ("default", customer))
        assert row.deleted is True and row.raw.get("id") == customer  # last known state kept
        statuses = set(s.scalars(select(StripeSubscription.status).where(StripeSubscription.customer_id == customer)))
        assert statuses == {"canceled"}
    full = _full(sqlite_store, sandbox)
    assert full.deleted == 0 and full.customers_changed == 0  # the reconcile agrees


def test_ten_percent_injected_faults_end_in_the_same_state_as_a_fault_free_run(tmp_path, sandbox):
    clean, faulty = (open_store(f"sqlite:///{tmp_path / name}.db") for name in ("clean", "faulty"))
    try:
        _full(clean, sandbox)
        sandbox.faults.configure(rate=0.1, seed=3, slow_seconds=0.05, retry_after=1)
        sleeps: list[float] = []
        api = api_for(sandbox, sleep=lambda s: sleeps.append(s), page_size=10)  # ~90 requests
        report = run_sync(faulty, api, CONFIG, full=True, now=sandbox.clock.now)
        faults = sandbox.faults.counts
        assert sum(faults.values()) >= 5 and report.retries == sum(faults.values()) - faults["slow"]
        assert report.quarantined == []
        assert mirror_state(faulty) == mirror_state(clean)
        if sandbox.faults.counts["429"]:
            assert max(sleeps) >= 1  # Retry-After: 1 honoured
    finally:
        clean.engine.dispose()
        faulty.engine.dispose()


class Killed(Exception):
    pass


def kill_full_sync(store, sb, phase: str, done_at: int, page_size: int = 10) -> None:
    """A full sync of `store` (pages of `page_size`) killed, as a process kill would stop it,
    once `phase` has written `done_at` objects."""

    def kill(current: str, done: int, total) -> None:
        if current == phase and done >= done_at:
            raise Killed

    with pytest.raises(Killed):
        _full(store, sb, page_size=page_size, progress=kill)


def test_a_sync_killed_half_way_resumes_and_ends_like_an_uninterrupted_one(tmp_path, sandbox):
    clean, resumed = (open_store(f"sqlite:///{tmp_path / name}.db") for name in ("clean", "resumed"))
    try:
        _full(clean, sandbox)

        def kill_in_customers(phase: str, done: int, total) -> None:
            if phase == "customers" and done >= 200:
                raise Killed

        with pytest.raises(Killed):  # pages of 10, 5 pages per transaction
            _full(resumed, sandbox, page_size=10, progress=kill_in_customers)
        with resumed.session() as s:
            assert 0 < s.scalar(select(func.count()).select_from(StripeCustomer)) < 300
        pages: list[tuple[str, int]] = []
        report = _incremental(resumed, sandbox, page_size=10, progress=lambda p, d, t: pages.append((p, d)))
        assert report.mode == "full" and report.resumed is True
        assert ("products", 0) not in pages and report.customers < 300  # went on where it stopped
        assert mirror_state(resumed) == mirror_state(clean)
    finally:
        clean.engine.dispose()
        resumed.engine.dispose()


def test_a_malformed_object_is_quarantined_and_the_rest_is_synced(sqlite_store, sandbox):
    subs = [s for s in sandbox.store["subscription"].objects.values() if s["status"] == "active"]
    broken, other = subs[0]["id"], subs[1]["id"]
    sandbox.inject_malformed(broken, items="garbage")
    report = _full(sqlite_store, sandbox)
    assert [(q.object_type, q.object_id) for q in report.quarantined] == [("subscription", broken)]
    assert report.subscriptions == len(sandbox.store["subscription"].objects) - 1
    with sqlite_store.session() as s:
        assert s.get(StripeSubscription, ("default", broken)) is None and s.get(StripeSubscription, ("default", other)) is not None
        entry = s.scalar(select(Quarantine).where(Quarantine.object_id == broken))
        assert "items" in entry.reason and entry.resolved_at is None and entry.raw["id"] == broken
    sandbox.clear_malformed(broken)
    sandbox.advance(timedelta(seconds=2))
    sandbox.update_subscription(broken, metadata={"fixed": "yes"})
    report = _incremental(sqlite_store, sandbox)
    assert report.quarantined == []
    with sqlite_store.session() as s:
        assert s.get(StripeSubscription, ("default", broken)).raw["metadata"]["fixed"] == "yes"
        assert s.scalar(select(Quarantine.resolved_at).where(Quarantine.object_id == broken)) is not None


def test_a_cursor_older_than_the_events_horizon_forces_a_full_reconcile(sqlite_store, sandbox):
    _full(sqlite_store, sandbox)
    sandbox.advance(timedelta(days=31))
    report = _incremental(sqlite_store, sandbox)
    assert report.mode == "full" and "30-day" in report.reason
    assert report.quarantined == []
    with sqlite_store.session() as s:
        for sub_id, stored in sandbox.store["subscription"].objects.items():
            assert s.get(StripeSubscription, ("default", sub_id)).status == stored["status"]


def test_incremental_sync_holds_no_write_lock_while_it_asks_stripe(sqlite_store, sandbox, monkeypatch):
    """Re-fetches, item pages and linking customers are read before the chunk's write
    transaction: evaluate and delivery may write while the sync waits on Stripe."""
    import sqlite3

    from worker.stripe_api.transport import StripeApi

    _full(sqlite_store, sandbox)
    big = max(sandbox.store["subscription"].objects.values(), key=lambda sub: len(sub["items"]))
    sandbox.advance(timedelta(seconds=5))
    sandbox.update_subscription(big["id"], cancel_at_period_end=True)  # 12+ items: a second page
    newcomer = sandbox.create_customer(metadata={"account_id": "newcomer"})
    price = sandbox.retrieve("subscription", big["id"])["items"]["data"][0]["price"]["id"]
    sandbox.create_subscription(newcomer["id"], [{"price": price, "quantity": 1}])
    database = sqlite_store.engine.url.database
    paths, locked = [], []
    real_get = StripeApi.get

    def get(self, path, params=None):
        probe = sqlite3.connect(database, timeout=0)
        try:
            probe.execute("BEGIN IMMEDIATE")  # fails at once while another connection writes
            probe.rollback()
        except sqlite3.OperationalError:
            locked.append(path)
        finally:
            probe.close()
        paths.append(path)
        return real_get(self, path, params)

    monkeypatch.setattr(StripeApi, "get", get)
    report = _incremental(sqlite_store, sandbox)
    assert report.subscriptions_changed >= 2 and report.quarantined == []
    assert "/v1/subscription_items" in paths and f"/v1/customers/{newcomer['id']}" in paths
    assert locked == []
