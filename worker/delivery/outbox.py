"""The outbox's life cycle around single sends (wiring): rows for a firing's actions, queueing
new rows, the reconciler, and in-process delivery for the embedded mode.

    ids = create_action_deliveries(session, firing, automation.actions, now)   # in evaluate's txn
    enqueue_new(store, tasks.deliver.send, ids,                                 # after commit,
                enqueue_batch=tasks.deliver_batch.send, batch_size=50)          # 50 ids a message
    redeliver(store, tasks.deliver.send, now, stale_after=timedelta(minutes=5)) # every minute
    counts = deliver_pending(store, rules, now, settings)                       # embedded

The database is the source of truth; a queue message only says "look at delivery N". A row
records in `enqueued_at` when a message for it was sent (or, for a delayed retry, when that
message becomes due). The reconciler re-sends a message for every active, due, unleased row
whose message is older than `stale_after`: a Redis restart without persistence or a killed
worker delays deliveries, it never loses them. Duplicate messages are harmless (the claim
lets one through; delivered rows are skipped). With `enqueue_batch`, a message carries a list
of ids (still only ids): one message per `batch_size` rows, for the `deliver_batch` actor.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.orm import Session

from worker.delivery import rows
from worker.delivery.keys import action_idempotency_key
from worker.delivery.batch import attempt_batch
from worker.logs import get_logger
from worker.rules.model import ActionSpec, RuleSet
from worker.store.db import Store

log = get_logger("delivery")
Enqueue = Callable[[int], Any]  # e.g. worker.tasks.deliver.send
EnqueueBatch = Callable[[list[int]], Any]  # e.g. worker.tasks.deliver_batch.send
DEFAULT_STALE = timedelta(minutes=5)


def action_target(automation: str, index: int) -> str:
    return f"{automation}#{index}"


class FiringLike(Protocol):
    """What the outbox needs of a firing: a Firing row, or evaluate's reference to one it just
    inserted (worker.automations.firing.FiringRef)."""

    id: int | None
    contact_id: str
    automation: str


def create_action_deliveries(session: Session, firing: FiringLike, actions: Sequence[ActionSpec],
                             now: datetime) -> list[int]:
    """One pending delivery per action of a (treated) firing, in the caller's transaction.

    `firing` must be flushed (its id known). Rows are due at `now` (the firing time) and
    hold only the automation name and action index: params are read from the rules at send
    time. Returns the new rows' ids, to enqueue after the transaction commits.
    """
    if firing.id is None:
        session.flush()
    ids = []
    for index, action in enumerate(actions):
        new_id = rows.insert_delivery(
            session, firing_id=firing.id, contact_id=firing.contact_id, kind="action",
            handler=action.handler, target=action_target(firing.automation, index),
            idempotency_key=action_idempotency_key(firing.id, index),
            payload={"automation": firing.automation, "action_index": index}, now=now,
        )
        if new_id is not None:
            ids.append(new_id)
    return ids


def enqueue_new(store: Store, enqueue: Enqueue, ids: Iterable[int], *, enqueue_batch: EnqueueBatch | None = None,
                batch_size: int = 50) -> int:
    """Send queue messages for new delivery ids (one per id, or with `enqueue_batch` one per
    `batch_size` ids); call after the rows are committed.

    `enqueued_at` is set to each row's due time before sending, so the reconciler leaves
    these rows alone while their messages are fresh. Returns how many deliveries were enqueued.
    """
    ids = list(ids)
    if not ids:
        return 0
    with store.session() as session:
        rows.mark_enqueued(session, ids)
    _send_messages(ids, enqueue, enqueue_batch, batch_size)
    return len(ids)


def _send_messages(ids: list[int], enqueue: Enqueue, enqueue_batch: EnqueueBatch | None, batch_size: int) -> None:
    if enqueue_batch is None or batch_size <= 1:
        for delivery_id in ids:
            enqueue(delivery_id)
        return
    for chunk in rows.chunks(ids, batch_size):
        if len(chunk) == 1:
            enqueue(chunk[0])
        else:
            enqueue_batch(chunk)


def redeliver(store: Store, enqueue: Enqueue, now: datetime, *, stale_after: timedelta = DEFAULT_STALE,
              batch: int = 1000, enqueue_batch: EnqueueBatch | None = None, batch_size: int = 50) -> int:
    """The reconciler: re-enqueue every active, due, unleased delivery whose queue message is
    missing or older than `stale_after` (lost in Redis, or held by a killed worker). Returns
    how many messages were sent."""
    sent = 0
    while True:
        with store.session() as session:
            ids = rows.stale_ids(session, now, stale_after, limit=batch)
            rows.mark_enqueued(session, ids, now)
        _send_messages(ids, enqueue, enqueue_batch, batch_size)
        sent += len(ids)
        if len(ids) < batch:
            break
    if sent:
        log.info("deliveries_reenqueued", count=sent)
    return sent


def deliver_pending(store: Store, rules: RuleSet, now: datetime, settings: Any, *, http: Any = None,
                    rng: Callable[[], float] | None = None) -> dict[str, int]:
    """Embedded mode: deliver every delivery due at `now`, in creation order, in this process,
    in batches (`attempt_batch`: a claim, a context query and a result statement per batch).

    A delivery that fails is rescheduled (retrying) and the pass goes on with the others; a
    later delivery of the same contact and target waits behind it. Returns counts by outcome.
    """
    counts: Counter[str] = Counter()
    after = 0
    extra = {"rng": rng} if rng is not None else {}
    size = getattr(settings, "delivery_batch_size", 50)
    while True:
        with store.session() as session:
            due = rows.due_streams(session, now, after_id=after)
        if not due:
            break
        for batch in stream_batches(due, size):
            while batch:  # rows released for lack of time go again in this pass
                outcomes = attempt_batch(store, rules, batch, now=now, settings=settings, http=http, **extra)
                released = [i for i, outcome in outcomes.items() if outcome.state == "released"]
                counts.update(o.state for o in outcomes.values() if o.state != "released")
                batch = released if len(released) < len(batch) else []  # none sent: next pass
        after = due[-1][0]
    return dict(counts)


def stream_batches(due: Sequence[tuple[int, str, str]], size: int) -> Iterator[list[int]]:
    """Consecutive batches of at most `size` ids, none holding the same (contact, target) twice.

    Inside a batch a later delivery of a stream is held back behind its earlier one (still
    active when the batch is claimed); one at a time, the earlier one is delivered first and the
    later one follows in the same pass. So a repeated stream starts the next batch."""
    batch: list[int] = []
    streams: set[tuple[str, str]] = set()
    for delivery_id, contact_id, target in due:
        if len(batch) >= size or (contact_id, target) in streams:
            yield batch
            batch, streams = [], set()
        batch.append(delivery_id)
        streams.add((contact_id, target))
    if batch:
        yield batch
