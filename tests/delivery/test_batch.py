"""Batches of deliveries (`deliver_batch`) against a real local HTTP receiver, on SQLite and
PostgreSQL: one claim for the batch, each row sent once with its own idempotency key, a
failure inside a batch retried alone, a killed worker's leased batch sent again once after its
lease, rows that cannot start in time released untouched, order per contact kept."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import dramatiq
import pytest
from sqlalchemy import update

from tests.delivery.conftest import T0
from worker.delivery import action_idempotency_key, batch, deliver_one, enqueue_new, redeliver, rows
from worker.delivery.batch import attempt_batch
from worker.store.models import Delivery


def _fire(outbox, count: int, prefix: str = "c"):
    fired = [outbox.fire(f"{prefix}{n}") for n in range(count)]
    return [firing_id for firing_id, _ in fired], [ids[0] for _, ids in fired]


def test_a_batch_is_claimed_sent_and_recorded_with_unchanged_keys(any_outbox, rules, make_settings, sink):
    firing_ids, ids = _fire(any_outbox, 6)

    outcomes = attempt_batch(any_outbox.store, rules, ids, now=T0, settings=make_settings())

    assert {i: o.state for i, o in outcomes.items()} == {i: "delivered" for i in ids}
    assert sorted(sink.keys(None)) == sorted(action_idempotency_key(f, 0) for f in firing_ids)
    for delivery_id in ids:
        row = any_outbox.row(delivery_id)
        assert (row.state, row.attempts, row.delivered_at, row.lease_until) == ("delivered", 1, T0, None)
    again = attempt_batch(any_outbox.store, rules, ids, now=T0 + timedelta(minutes=1), settings=make_settings())
    assert {o.state for o in again.values()} == {"delivered"}  # a repeated message sends nothing
    assert len(sink.received(None)) == 6


def test_one_500_in_a_batch_is_retried_alone_with_the_same_key(any_outbox, rules, make_settings, sink):
    _, ids = _fire(any_outbox, 5)
    failing = ids[2]
    key = any_outbox.row(failing).idempotency_key
    sink.script(key, 500)
    settings = make_settings(delivery_backoff_base_s=10)

    outcomes = attempt_batch(any_outbox.store, rules, ids, now=T0, settings=settings)

    assert outcomes[failing].state == "retrying"
    assert {outcomes[i].state for i in ids if i != failing} == {"delivered"}
    row = any_outbox.row(failing)
    assert (row.state, row.attempts, row.lease_until) == ("retrying", 1, None)
    assert "HTTP 500" in row.last_error
    assert T0 + timedelta(seconds=7.9) <= row.next_attempt_at <= T0 + timedelta(seconds=12.1)
    assert outcomes[failing].next_attempt_at == row.next_attempt_at

    # the retry takes the per-delivery path; the others are not sent again
    assert deliver_one(any_outbox.store, rules, failing, now=row.next_attempt_at, settings=settings) == "delivered"
    assert [a.status for a in sink.received(None) if a.key == key] == [500, 200]
    assert Counter(sink.keys(None)) == Counter({**{any_outbox.row(i).idempotency_key: 1 for i in ids}, key: 2})


def test_a_permanent_failure_in_a_batch_is_dead_and_the_others_arrive(outbox, rules, make_settings, sink):
    _, ids = _fire(outbox, 3)
    sink.script(outbox.row(ids[0]).idempotency_key, 404)

    outcomes = attempt_batch(outbox.store, rules, ids, now=T0, settings=make_settings())

    assert [outcomes[i].state for i in ids] == ["dead", "delivered", "delivered"]
    assert outbox.row(ids[0]).attempts == 1 and "HTTP 404" in outbox.row(ids[0]).last_error


def test_rows_held_elsewhere_not_due_or_final_are_left_alone(outbox, rules, make_settings, sink):
    _, (done, held, free) = _fire(outbox, 3)
    _, (later,) = outbox.fire("future", at=T0 + timedelta(hours=1))
    settings = make_settings()
    deliver_one(outbox.store, rules, done, now=T0, settings=settings)
    with outbox.store.session() as session:
        session.execute(update(Delivery).where(Delivery.id == held).values(lease_until=T0 + timedelta(minutes=1)))

    outcomes = attempt_batch(outbox.store, rules, [done, held, free, later, 999_999], now=T0, settings=settings)

    assert {i: o.state for i, o in outcomes.items()} == {
        done: "delivered", held: "leased", free: "delivered", later: "not_due", 999_999: "missing"}
    assert Counter(sink.keys(None)) == Counter({outbox.row(done).idempotency_key: 1, outbox.row(free).idempotency_key: 1})
    assert outbox.row(held).lease_until == T0 + timedelta(minutes=1)  # the other holder's lease untouched


def test_a_killed_workers_leased_batch_is_sent_again_once_after_its_lease(any_outbox, rules, make_settings, sink):
    _, ids = _fire(any_outbox, 4)
    settings = make_settings(delivery_lease_s=120)
    enqueue_new(any_outbox.store, lambda _id: None, ids)
    with any_outbox.store.engine.connect() as conn:  # a worker claims the batch, then is killed -9
        assert len(rows.claim_many(conn, ids, T0, T0 + timedelta(seconds=120))) == 4
        conn.commit()

    early = attempt_batch(any_outbox.store, rules, ids, now=T0 + timedelta(seconds=60), settings=settings)
    assert {o.state for o in early.values()} == {"leased"} and sink.received(None) == []

    later = T0 + timedelta(minutes=10)  # lease over, message stale: the reconciler sends one batch
    batches: list[list[int]] = []
    assert redeliver(any_outbox.store, lambda _id: None, later, enqueue_batch=batches.append, batch_size=50) == 4
    assert batches == [ids]
    for message in batches + batches:  # even a duplicated message sends each row once
        attempt_batch(any_outbox.store, rules, message, now=later, settings=settings)
    assert Counter(sink.keys(None)) == Counter({any_outbox.row(i).idempotency_key: 1 for i in ids})
    assert {any_outbox.row(i).attempts for i in ids} == {1}


def test_the_same_batch_in_two_workers_at_once_sends_each_row_once(any_outbox, rules, make_settings, sink):
    outbox = any_outbox
    _, ids = _fire(outbox, 30)
    sink.pause_s = 0.01
    settings = make_settings()
    results: list[dict] = []
    threads = [threading.Thread(target=lambda: results.append(
        attempt_batch(outbox.store, rules, ids, now=T0, settings=settings))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert Counter(sink.keys(None)) == Counter({outbox.row(i).idempotency_key: 1 for i in ids})
    assert {outbox.row(i).state for i in ids} == {"delivered"}
    assert len(results) == 2


def test_rows_that_cannot_start_in_time_are_released_without_an_attempt(outbox, rules, make_settings, sink, monkeypatch):
    _, ids = _fire(outbox, 3)
    monkeypatch.setattr(batch, "MAX_BUDGET_S", -1.0)  # the batch is out of time before any send

    outcomes = attempt_batch(outbox.store, rules, ids, now=T0, settings=make_settings())

    assert {o.state for o in outcomes.values()} == {"released"}
    assert sink.received(None) == []
    for delivery_id in ids:
        row = outbox.row(delivery_id)
        assert (row.state, row.attempts, row.lease_until) == ("pending", 0, None)


def test_a_later_row_of_the_same_contact_and_target_waits_inside_a_batch(outbox, rules, make_settings, sink):
    _, (first,) = outbox.fire("acme-1", occurrence="one")
    _, (second,) = outbox.fire("acme-1", occurrence="two")
    _, (other,) = outbox.fire("beta-2")

    outcomes = attempt_batch(outbox.store, rules, [first, second, other], now=T0, settings=make_settings())

    assert (outcomes[first].state, outcomes[second].state, outcomes[other].state) == ("delivered", "waiting", "delivered")
    assert outbox.row(second).attempts == 0
    assert deliver_one(outbox.store, rules, second, now=outcomes[second].next_attempt_at,
                       settings=make_settings()) == "delivered"


def test_enqueue_new_sends_one_message_per_batch_of_ids(outbox):
    ids = [outbox.fire(f"c{i}")[1][0] for i in range(7)]
    singles: list[int] = []
    batches: list[list[int]] = []

    assert enqueue_new(outbox.store, singles.append, ids, enqueue_batch=batches.append, batch_size=3) == 7
    assert batches == [ids[0:3], ids[3:6]] and singles == [ids[6]]  # a lone id goes as a single message
    assert all(outbox.row(i).enqueued_at == T0 for i in ids)


def test_the_batch_pipeline_puts_each_retry_back_on_the_queue_alone(sqlite_url, rules, make_settings, sink, monkeypatch):
    from tests.delivery.conftest import HOOK_SECRET, Outbox
    from worker import tasks
    from worker.delivery import service
    from worker.runtime.queue import DramatiqQueue
    from worker.runtime.runtime import Runtime

    monkeypatch.setenv("HOOK_SECRET", HOOK_SECRET)
    runtime = Runtime(make_settings(sqlite_url, delivery_backoff_base_s=30), queue=DramatiqQueue(tasks.BY_NAME))
    outbox = Outbox(runtime.store(), rules)
    _, ids = _fire(outbox, 3)
    sink.script(outbox.row(ids[1]).idempotency_key, 503)
    delayed = tasks.deliver.broker.queues.get("deliver.DQ")
    before = delayed.qsize() if delayed is not None else 0

    service.deliver(runtime, ids, T0)

    assert [outbox.row(i).state for i in ids] == ["delivered", "retrying", "delivered"]
    queue = tasks.deliver.broker.queues["deliver.DQ"]
    assert queue.qsize() == before + 1
    message = dramatiq.Message.decode(queue.queue[-1])
    assert (message.actor_name, message.args) == ("deliver", (ids[1],))
    queue.queue.pop()  # leave the shared in-process broker as it was


def test_embedded_batches_never_hold_one_contact_and_target_twice():
    from worker.delivery.outbox import stream_batches

    due = [(1, "a", "t"), (2, "b", "t"), (3, "a", "u"), (4, "a", "t"), (5, "c", "t"), (6, "d", "t")]
    assert list(stream_batches(due, 50)) == [[1, 2, 3], [4, 5, 6]]
    assert list(stream_batches(due, 2)) == [[1, 2], [3, 4], [5, 6]]  # 1 is done before 4
    assert list(stream_batches([], 50)) == []
