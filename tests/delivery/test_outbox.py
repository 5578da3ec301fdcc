"""The outbox around single sends: order per contact, embedded delivery of everything due,
queueing new rows and the reconciler that rebuilds lost queue messages from the database."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from tests.delivery.conftest import T0
from worker.delivery import deliver_one, deliver_pending, enqueue_new, redeliver
from worker.store.models import Delivery


def test_order_per_contact_is_kept_and_a_failing_contact_does_not_block_others(outbox, rules, make_settings, sink):
    acme = [outbox.fire("acme-1", at=T0, occurrence=f"occ-{i}")[1][0] for i in range(3)]
    (beta,) = outbox.fire("beta-2", at=T0)[1]
    keys = {d: outbox.row(d).idempotency_key for d in (*acme, beta)}
    sink.script(keys[acme[0]], 500)
    settings = make_settings(delivery_backoff_base_s=10)

    first = deliver_pending(outbox.store, rules, T0, settings)

    assert first == {"retrying": 1, "waiting": 2, "delivered": 1}
    assert sink.keys(200) == [keys[beta]]  # the other contact went through
    assert outbox.row(acme[1]).attempts == 0  # waiting is not an attempt
    # a queue message for a waiting delivery that arrives early changes nothing
    assert deliver_one(outbox.store, rules, acme[2], now=T0, settings=settings) == "not_due"

    second = deliver_pending(outbox.store, rules, T0 + timedelta(minutes=5), settings)

    assert second == {"delivered": 3}
    acme_keys = [a.key for a in sink.received(None) if a.body["contact"]["contact_id"] == "acme-1"]
    assert acme_keys == [keys[acme[0]], keys[acme[0]], keys[acme[1]], keys[acme[2]]]


def test_a_later_delivery_waits_until_after_the_earlier_ones_retry(outbox, rules, make_settings, sink):
    first = outbox.fire("acme-1", occurrence="a")[1][0]
    second = outbox.fire("acme-1", occurrence="b")[1][0]
    sink.script(outbox.row(first).idempotency_key, 503)
    settings = make_settings(delivery_backoff_base_s=100)
    deliver_one(outbox.store, rules, first, now=T0, settings=settings)

    assert deliver_one(outbox.store, rules, second, now=T0, settings=settings) == "waiting"
    assert outbox.row(second).next_attempt_at > outbox.row(first).next_attempt_at


def test_embedded_delivery_covers_every_action_of_a_firing_and_only_due_rows(outbox, rules, make_settings, sink):
    _, (log_id, hook_id) = outbox.fire("acme-1", "two-step")
    _, (future,) = outbox.fire("beta-2", at=T0 + timedelta(hours=1))

    assert deliver_pending(outbox.store, rules, T0, make_settings()) == {"delivered": 2}
    assert outbox.row(log_id).state == outbox.row(hook_id).state == "delivered"
    assert outbox.row(future).state == "pending"


def test_enqueue_new_sends_one_message_per_row_and_marks_it(outbox):
    _, ids = outbox.fire("acme-1", "two-step")
    sent: list[int] = []

    assert enqueue_new(outbox.store, sent.append, ids) == 2
    assert sent == ids
    assert all(outbox.row(i).enqueued_at == T0 for i in ids)


def test_the_reconciler_resends_only_lost_messages(outbox, rules, make_settings, sink):
    _, (fresh,) = outbox.fire("a")
    _, (lost,) = outbox.fire("b")
    _, (done,) = outbox.fire("c")
    _, (held,) = outbox.fire("d")
    _, (later,) = outbox.fire("e", at=T0 + timedelta(hours=1))
    stale = timedelta(minutes=5)
    enqueue_new(outbox.store, lambda _id: None, [fresh, lost, done, held, later])
    deliver_one(outbox.store, rules, done, now=T0, settings=make_settings())
    with outbox.store.session() as session:
        now = T0 + timedelta(minutes=10)
        session.execute(update(Delivery).where(Delivery.id == fresh).values(enqueued_at=now - timedelta(minutes=1)))
        session.execute(update(Delivery).where(Delivery.id == held).values(lease_until=now + timedelta(hours=1)))

    sent: list[int] = []
    assert redeliver(outbox.store, sent.append, now, stale_after=stale) == 1
    assert sent == [lost]
    # sent just now: not again on the next run, but again once that message is stale too
    assert redeliver(outbox.store, sent.append, now + timedelta(minutes=1), stale_after=stale) == 0
    assert redeliver(outbox.store, sent.append, now + timedelta(minutes=6), stale_after=stale) == 2
    assert sent == [lost, fresh, lost]


def test_the_reconciler_pages_through_a_large_backlog(outbox):
    ids = [outbox.fire(f"c{i}")[1][0] for i in range(25)]
    sent: list[int] = []

    assert redeliver(outbox.store, sent.append, T0, stale_after=timedelta(minutes=5), batch=10) == 25
    assert sent == ids


def test_rows_a_batch_released_for_lack_of_time_are_delivered_in_the_same_pass(
        outbox, rules, make_settings, sink, monkeypatch):
    from worker.delivery import batch as batch_module

    ids = [outbox.fire(f"c-{i}", at=T0)[1][0] for i in range(4)]
    calls = []
    real = batch_module.attempt_batch

    def one_send_per_round(store, rules_, batch_ids, **kwargs):  # as if time ran out after one send
        calls.append(list(batch_ids))
        outcomes = real(store, rules_, batch_ids[:1], **kwargs)
        return {**outcomes, **{i: batch_module.Outcome("released") for i in batch_ids[1:]}}

    monkeypatch.setattr("worker.delivery.outbox.attempt_batch", one_send_per_round)
    assert deliver_pending(outbox.store, rules, T0, make_settings()) == {"delivered": 4}
    assert calls == [ids, ids[1:], ids[2:], ids[3:]]
    assert sorted(sink.keys(200)) == sorted(outbox.row(i).idempotency_key for i in ids)
