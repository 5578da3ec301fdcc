"""One delivery against a real local HTTP receiver: sent once, retried with the same key,
dead on 4xx or after the attempt limit, resolved from the current rules, claimed with a lease."""

from __future__ import annotations

import hashlib
import hmac
import threading
from datetime import timedelta

from prometheus_client import generate_latest
from sqlalchemy import update

from tests.delivery.conftest import HOOK_SECRET, T0, read_rules, write_rules
from worker.delivery import action_idempotency_key, deliver_one
from worker.store.models import Delivery
from worker.web.metrics import make_registry


def test_a_delivery_arrives_once_signed_and_a_repeat_message_is_skipped(any_outbox, rules, make_settings, sink):
    firing_id, (delivery_id,) = any_outbox.fire("acme-1")
    settings = make_settings()

    assert deliver_one(any_outbox.store, rules, delivery_id, now=T0, settings=settings) == "delivered"
    assert deliver_one(any_outbox.store, rules, delivery_id, now=T0 + timedelta(minutes=1), settings=settings) == "delivered"

    (arrival,) = sink.received(None)
    assert arrival.key == action_idempotency_key(firing_id, 0)
    assert arrival.body["automation"] == "hook"
    assert arrival.body["contact"]["contact_id"] == "acme-1"
    assert arrival.body["fired_at"] == "2026-11-02T09:30:00Z"
    t, v1 = (part.split("=", 1)[1] for part in arrival.headers["X-Lifecycle-Signature"].split(","))
    assert int(t) == int(T0.timestamp())  # the send-time clock is the `now` passed in
    expected = hmac.new(HOOK_SECRET.encode(), f"{t}.".encode() + arrival.raw, hashlib.sha256).hexdigest()
    assert v1 == expected
    row = any_outbox.row(delivery_id)
    assert (row.state, row.attempts, row.delivered_at, row.lease_until) == ("delivered", 1, T0, None)


def test_a_500_is_retried_later_with_the_same_idempotency_key(any_outbox, rules, make_settings, sink):
    _, (delivery_id,) = any_outbox.fire("acme-1")
    key = any_outbox.row(delivery_id).idempotency_key
    sink.script(key, 500)
    settings = make_settings(delivery_backoff_base_s=10)

    assert deliver_one(any_outbox.store, rules, delivery_id, now=T0, settings=settings) == "retrying"
    row = any_outbox.row(delivery_id)
    assert row.attempts == 1 and "HTTP 500" in row.last_error
    assert T0 + timedelta(seconds=7.9) <= row.next_attempt_at <= T0 + timedelta(seconds=12.1)
    assert deliver_one(any_outbox.store, rules, delivery_id, now=T0 + timedelta(seconds=1), settings=settings) == "not_due"
    assert len(sink.received(None)) == 1  # not sent again before its time

    assert deliver_one(any_outbox.store, rules, delivery_id, now=row.next_attempt_at, settings=settings) == "delivered"
    assert [a.status for a in sink.received(None)] == [500, 200]
    assert sink.keys(None) == [key, key]
    assert any_outbox.row(delivery_id).attempts == 2


def test_retry_after_from_the_receiver_is_honoured(outbox, rules, make_settings, sink):
    _, (delivery_id,) = outbox.fire("acme-1")
    sink.script(outbox.row(delivery_id).idempotency_key, 429)
    sink.retry_after = "600"

    assert deliver_one(outbox.store, rules, delivery_id, now=T0, settings=make_settings()) == "retrying"
    assert outbox.row(delivery_id).next_attempt_at >= T0 + timedelta(seconds=600)


def test_a_4xx_is_dead_at_once_with_the_reason(outbox, rules, make_settings, sink):
    _, (delivery_id,) = outbox.fire("acme-1")
    sink.script(outbox.row(delivery_id).idempotency_key, 400)
    settings = make_settings()

    assert deliver_one(outbox.store, rules, delivery_id, now=T0, settings=settings) == "dead"
    assert deliver_one(outbox.store, rules, delivery_id, now=T0 + timedelta(days=1), settings=settings) == "dead"
    row = outbox.row(delivery_id)
    assert row.state == "dead" and row.attempts == 1
    assert "HTTP 400" in row.last_error and "127.0.0.1" in row.last_error
    assert len(sink.received(None)) == 1
    scraped = generate_latest(make_registry(outbox.store, clock=lambda: T0)).decode()
    assert 'lifecycle_deliveries_total{state="dead"} 1.0' in scraped  # reported
    assert 'lifecycle_deliveries_dead_total{handler="webhook",kind="action"} 1.0' in scraped


def test_a_delivery_is_dead_after_the_attempt_limit(outbox, rules, make_settings, sink):
    _, (delivery_id,) = outbox.fire("acme-1")
    sink.always = 503
    settings = make_settings(delivery_max_attempts=3, delivery_backoff_base_s=1)
    now, states = T0, []
    for _ in range(6):
        states.append(deliver_one(outbox.store, rules, delivery_id, now=now, settings=settings))
        if states[-1] != "retrying":
            break
        now = outbox.row(delivery_id).next_attempt_at

    assert states == ["retrying", "retrying", "dead"]
    row = outbox.row(delivery_id)
    assert row.attempts == 3 and row.last_error.startswith("gave up after 3 attempts")
    assert len(sink.received(None)) == 3


def test_backoff_grows_between_attempts(outbox, rules, make_settings, sink):
    _, (delivery_id,) = outbox.fire("acme-1")
    sink.always = 503
    settings = make_settings(delivery_max_attempts=5, delivery_backoff_base_s=10)
    now, pauses = T0, []
    for _ in range(4):
        deliver_one(outbox.store, rules, delivery_id, now=now, settings=settings, rng=lambda: 0.5)
        due = outbox.row(delivery_id).next_attempt_at
        pauses.append((due - now).total_seconds())
        now = due
    assert pauses == [10, 20, 40, 80]


def test_a_removed_automation_makes_its_delivery_dead_with_the_reason(outbox, make_settings, sink, tmp_path):
    _, (delivery_id,) = outbox.fire("acme-1")
    _, (log_id, hook_id) = outbox.fire("acme-1", "two-step")
    edited = read_rules(write_rules(tmp_path / "edited", sink.url(), automations="""
automations:
  - name: two-step
    on: stage_changed
    do:
      - log: {message: "only the log is left"}
"""))
    settings = make_settings()

    assert deliver_one(outbox.store, edited, delivery_id, now=T0, settings=settings) == "dead"
    assert deliver_one(outbox.store, edited, log_id, now=T0, settings=settings) == "delivered"
    assert deliver_one(outbox.store, edited, hook_id, now=T0, settings=settings) == "dead"
    assert outbox.row(delivery_id).last_error == "automation 'hook' was removed from the rules"
    assert outbox.row(hook_id).last_error == "action #2 of automation 'two-step' was removed from the rules"
    assert sink.received(None) == []


def test_delivery_rows_hold_no_secret_and_no_params(outbox):
    _, ids = outbox.fire("acme-1")
    row = outbox.row(ids[0])
    assert row.payload == {"automation": "hook", "action_index": 0}
    assert HOOK_SECRET not in repr(row.__dict__)


def test_a_leased_delivery_is_left_to_its_holder(outbox, rules, make_settings, sink):
    _, (delivery_id,) = outbox.fire("acme-1")
    with outbox.store.session() as session:
        session.execute(update(Delivery).where(Delivery.id == delivery_id).values(lease_until=T0 + timedelta(seconds=60)))
    settings = make_settings()

    assert deliver_one(outbox.store, rules, delivery_id, now=T0, settings=settings) == "leased"
    assert sink.received(None) == []
    # the lease ran out (its holder died): the next message takes it
    assert deliver_one(outbox.store, rules, delivery_id, now=T0 + timedelta(seconds=61), settings=settings) == "delivered"


def test_the_same_delivery_processed_twice_at_once_is_sent_once(any_outbox, rules, make_settings, sink):
    _, (delivery_id,) = any_outbox.fire("acme-1")
    sink.pause_s = 0.5  # the first sender is still talking to the receiver when the second starts
    settings = make_settings()
    results: list[str] = []

    def work() -> None:
        results.append(deliver_one(any_outbox.store, rules, delivery_id, now=T0, settings=settings))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert sorted(results) == ["delivered", "leased"]
    assert len(sink.received(None)) == 1


def test_a_one_hour_outage_is_retried_through_and_a_dead_receiver_ends_after_the_time_budget(
        outbox, rules, make_settings, sink):
    """Retries run by a time budget (default 24 h), not 8 attempts in ~21 minutes: capped
    exponential backoff with jitter keeps trying through an hour-long outage."""
    _, (first,) = outbox.fire("acme-1")
    _, (second,) = outbox.fire("acme-2")
    sink.always = 503
    settings = make_settings(delivery_max_attempts=None)  # the defaults: 24 h budget, 1 h cap
    assert settings.delivery_retry_budget_s == 24 * 3600 and settings.delivery_backoff_max_s == 3600

    now, states = T0, []
    while now < T0 + timedelta(hours=1):
        states.append(deliver_one(outbox.store, rules, first, now=now, settings=settings))
        now = outbox.row(first).next_attempt_at
    assert set(states) == {"retrying"} and len(states) > 8  # still alive after an hour
    sink.always = None
    assert deliver_one(outbox.store, rules, first, now=now, settings=settings) == "delivered"

    sink.always = 503
    now, pauses, state = T0, [], "retrying"
    while state == "retrying":
        state = deliver_one(outbox.store, rules, second, now=now, settings=settings)
        if state == "retrying":
            due = outbox.row(second).next_attempt_at
            pauses.append((due - now).total_seconds())
            now = due
    row = outbox.row(second)
    assert state == "dead" and "24 h retry budget" in row.last_error
    assert now - T0 <= timedelta(hours=24)
    assert now - T0 >= timedelta(hours=22)  # the budget, not an attempt count, ended it
    assert max(pauses) <= 3600 * 1.2  # capped (with ±20 % jitter)
