"""The delivery use-cases wired to the settings: rules re-read when a file changes (and the last
valid ones kept when an edit breaks them), and `worker.pipeline.deliver` putting a retry back on
the queue as a delayed message."""

from __future__ import annotations

from datetime import timedelta

import dramatiq
import pytest

from tests.delivery.conftest import HOOK_SECRET, T0, Outbox, write_rules
from worker.delivery import service


@pytest.fixture
def env_secret(monkeypatch):
    monkeypatch.setenv("HOOK_SECRET", HOOK_SECRET)


def test_rules_are_reloaded_after_an_edit_and_kept_when_an_edit_breaks_them(env_secret, rules_dir, make_settings, sink):
    settings = make_settings()
    assert [a.name for a in service.current_rules(settings, T0).automations] == ["hook", "two-step"]

    write_rules(rules_dir, sink.url(), automations="automations:\n  - name: only\n    on: canceled\n    do:\n      - log: {}\n")
    assert service.current_rules(settings, T0).automation("only") is None  # looked at once a second at most
    assert [a.name for a in service.current_rules(settings, T0 + timedelta(seconds=2)).automations] == ["only"]

    (rules_dir / "automations.yaml").write_text("automations:\n  - name: broken\n    on: no_such_trigger\n")
    assert [a.name for a in service.current_rules(settings, T0 + timedelta(seconds=4)).automations] == ["only"]


def test_the_pipeline_puts_a_retry_back_on_the_queue_with_its_delay(env_secret, sqlite_url, rules, make_settings, sink):
    from worker import pipeline, tasks

    settings = make_settings(sqlite_url, delivery_backoff_base_s=30)
    outbox = Outbox(service.store_for(settings), rules)
    _, (delivery_id,) = outbox.fire("acme-1")
    sink.script(outbox.row(delivery_id).idempotency_key, 503)
    broker = tasks.deliver.broker
    delayed = broker.queues.get("deliver.DQ")
    before = delayed.qsize() if delayed is not None else 0

    pipeline.deliver(settings, delivery_id, T0)

    assert outbox.row(delivery_id).state == "retrying"
    queue = broker.queues["deliver.DQ"]
    assert queue.qsize() == before + 1
    message = dramatiq.Message.decode(queue.queue[-1])
    assert (message.actor_name, message.args) == ("deliver", (delivery_id,))
    queue.queue.pop()  # leave the shared in-process broker as it was


@pytest.mark.postgres
def test_only_the_delivery_bookkeeping_skips_waiting_for_the_wal_flush(postgres_url, make_settings):
    from sqlalchemy import text

    settings = make_settings(postgres_url)
    try:
        with service.store_for(settings).engine.connect() as conn:
            assert conn.execute(text("SHOW synchronous_commit")).scalar() == "on"  # firings: durable
        with service.delivery_store_for(settings).engine.connect() as conn:
            assert conn.execute(text("SHOW synchronous_commit")).scalar() == "off"
    finally:
        url = settings.database_url.get_secret_value()
        for key in (url, f"delivery:{url}"):
            store = service._stores.pop(key, None)
            if store is not None:
                store.engine.dispose()  # the test database is dropped next
