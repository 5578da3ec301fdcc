"""The scheduled evaluation pass takes the contacts the writers queued (worker.store.
evaluation_queue) instead of digesting every contact's mirror rows (issue #18): a change written
by each writer path is evaluated by the next scheduled pass without the all-contacts scan, a
pass with nothing queued reads no mirror row, and the daily scan still catches a write that did
not queue its contact."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, update

from tests.automations.test_incremental_recompute import START, World
from worker.automations.service import run_evaluation
from worker.compute import dirty
from worker.contacts.importer import ContactRow, import_contacts
from worker.rules.loader import load_rules
from worker.store.models import EvaluationQueue, StripeSubscription
from worker.sync.runner import refetch, run_sync

MIRROR_TABLES = ("stripe_customers", "stripe_subscriptions", "subscription_items")


@pytest.fixture
def world(tmp_path, monkeypatch):
    monkeypatch.setattr(dirty, "SCAN_EVERY", timedelta(days=365))  # only the queue, unless a test says
    w = World(tmp_path, monkeypatch)
    w.scans = 0
    real = dirty._scan

    def counting(session, chunk):
        w.scans += 1
        return real(session, chunk)

    monkeypatch.setattr(dirty, "_scan", counting)
    yield w
    w.close()


def _evaluate(world):
    world.computed.clear()
    return run_evaluation(world.runtime, world.sb.clock.now, engine="reference")


def _queued(world) -> list[str]:
    with world.store.session() as session:
        return sorted(session.scalars(EvaluationQueue.__table__.select().with_only_columns(
            EvaluationQueue.contact_id)))


def _item(world, name):
    return world.sb.retrieve("subscription", world.subs[name]["id"])["items"]["data"][0]["id"]


def test_an_incremental_sync_queues_what_it_changed_and_the_pass_takes_only_that(world):
    world.sb.advance(timedelta(days=1))
    world.sb.update_subscription(world.subs["b"]["id"], items=[{"id": _item(world, "b"), "quantity": 3}])
    world.pass_()
    assert world.computed == [["b"]] and world.scans == 0
    assert world.state("b").mrr_minor == 3000
    assert _queued(world) == []  # the pass drained it


def test_a_webhook_refetch_queues_in_its_transaction_without_a_callback(world):
    world.sb.advance(timedelta(days=1))
    world.sb.update_subscription(world.subs["c"]["id"], items=[{"id": _item(world, "c"), "quantity": 2}])
    refetch(world.store, world.api, "subscription", world.subs["c"]["id"], world.sb.clock.now,
            None, source_config=load_rules(world.rules_dir, {}).source)
    assert _queued(world) == ["c"]
    _evaluate(world)
    assert world.computed == [["c"]] and world.scans == 0
    assert world.state("c").mrr_minor == 2000


def test_a_full_reconcile_and_its_tombstones_queue_what_changed(world):
    world.sb.advance(timedelta(days=1))
    world.sb.update_customer(world.subs["a"]["customer"], email="new@example.com")
    world.sb.delete_customer(world.subs["c"]["customer"])
    world.pass_(full=True)
    assert world.computed == [["a", "c"]] and world.scans == 0
    assert world.state("c").mrr_minor == 0


def test_a_contacts_import_queues_the_contacts_it_wrote(world):
    world.sb.advance(timedelta(days=1))
    import_contacts(world.store, [ContactRow(line=2, id="a", type="company", name="Renamed", email=None)],
                    world.sb.clock.now, None)
    assert _queued(world) == ["a"]
    _evaluate(world)
    assert world.computed == [["a"]] and world.scans == 0


def test_a_second_account_writing_the_same_contacts_queues_them(world):
    world.sb.advance(timedelta(days=1))
    run_sync(world.store, world.api, load_rules(world.rules_dir, {}).source, full=True, now=world.sb.clock.now,
             reconcile_every=timedelta(days=365), account="eu")
    _evaluate(world)
    assert world.computed == [["a", "b", "c"]] and world.scans == 0
    assert world.state("a").mrr_minor == 2000  # a's customers in both accounts


def test_a_scheduled_pass_with_nothing_queued_reads_no_mirror_row(world):
    world.sb.advance(timedelta(days=1))
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        statements.append(statement.lower())

    event.listen(world.store.engine, "before_cursor_execute", seen)
    try:
        _evaluate(world)
    finally:
        event.remove(world.store.engine, "before_cursor_execute", seen)
    assert statements  # the pass ran
    assert [s for s in statements if any(t in s for t in MIRROR_TABLES)] == []
    assert world.computed == [] and world.scans == 0


def test_the_daily_scan_catches_a_write_that_did_not_queue(world, monkeypatch):
    monkeypatch.setattr(dirty, "SCAN_EVERY", timedelta(days=1))
    world.sb.advance(timedelta(hours=2))
    with world.store.session() as session:  # a writer that forgot to queue its contact
        session.execute(update(StripeSubscription).where(StripeSubscription.id == world.subs["b"]["id"])
                        .values(written_at=START + timedelta(days=3)))
    _evaluate(world)
    assert world.computed == [] and world.scans == 0  # within the day: not seen yet
    world.sb.advance(timedelta(days=1))
    _evaluate(world)
    assert world.computed == [["b"]] and world.scans == 1
    world.sb.advance(timedelta(hours=1))
    _evaluate(world)
    assert world.computed == [] and world.scans == 1  # the next scan is a day later
