"""The delivery use-cases over a runtime: rules re-read when a file changes (and the last valid
ones kept when an edit breaks them), a single delivery (a batch of one) putting a retry back on
the queue as a delayed message, and the delivery store's own tuning."""

from __future__ import annotations

from datetime import timedelta

import dramatiq
import pytest

from tests.delivery.conftest import HOOK_SECRET, T0, Outbox, write_rules
from worker.delivery import service
from worker.runtime.queue import DramatiqQueue
from worker.runtime.runtime import Runtime


@pytest.fixture
def env_secret(monkeypatch):
    monkeypatch.setenv("HOOK_SECRET", HOOK_SECRET)


def test_rules_are_reloaded_after_an_edit_and_kept_when_an_edit_breaks_them(env_secret, rules_dir, make_settings, sink):
    runtime = Runtime(make_settings())
    assert [a.name for a in runtime.rules(T0).automations] == ["hook", "two-step"]

    write_rules(rules_dir, sink.url(), automations="automations:\n  - name: only\n    on: canceled\n    do:\n      - log: {}\n")
    assert runtime.rules(T0).automation("only") is None  # looked at once a second at most
    assert [a.name for a in runtime.rules(T0 + timedelta(seconds=2)).automations] == ["only"]

    (rules_dir / "automations.yaml").write_text("automations:\n  - name: broken\n    on: no_such_trigger\n")
    assert [a.name for a in runtime.rules(T0 + timedelta(seconds=4)).automations] == ["only"]


def test_a_single_delivery_puts_a_retry_back_on_the_queue_with_its_delay(env_secret, sqlite_url, rules,
                                                                          make_settings, sink):
    from worker import tasks

    runtime = Runtime(make_settings(sqlite_url, delivery_backoff_base_s=30), queue=DramatiqQueue(tasks.BY_NAME))
    outbox = Outbox(runtime.store(), rules)
    _, (delivery_id,) = outbox.fire("acme-1")
    sink.script(outbox.row(delivery_id).idempotency_key, 503)
    broker = tasks.deliver.broker
    delayed = broker.queues.get("deliver.DQ")
    before = delayed.qsize() if delayed is not None else 0

    service.deliver(runtime, [delivery_id], T0)

    assert outbox.row(delivery_id).state == "retrying"
    queue = broker.queues["deliver.DQ"]
    assert queue.qsize() == before + 1
    message = dramatiq.Message.decode(queue.queue[-1])
    assert (message.actor_name, message.args) == ("deliver", (delivery_id,))
    queue.queue.pop()  # leave the shared in-process broker as it was


@pytest.mark.postgres
def test_only_the_delivery_bookkeeping_skips_waiting_for_the_wal_flush(postgres_url, make_settings):
    from sqlalchemy import text

    runtime = Runtime(make_settings(postgres_url))
    try:
        with runtime.store().engine.connect() as conn:
            assert conn.execute(text("SHOW synchronous_commit")).scalar() == "on"  # firings: durable
        with runtime.delivery_store().engine.connect() as conn:
            assert conn.execute(text("SHOW synchronous_commit")).scalar() == "off"
    finally:
        runtime.close()  # the test database is dropped next
