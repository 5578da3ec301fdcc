"""The delivery use-cases over a `Runtime` (wiring): what the `deliver`/`deliver_batch`/
`redeliver` actors, the inline queue and the in-process evaluate run.

    deliver(runtime, [id, …], now)      # a single delivery is a batch of one
    reconcile(runtime, now)             # the periodic `redeliver`
    deliver_all_due(runtime, now)       # in-process queue: everything due now, here

Each delivery resolves its parameters from the runtime's current rules (no YAML re-parsed per
message) and uses the runtime's delivery store. With no valid rules at all, deliveries are left
untouched for the reconciler to retry. Retries and order waits go back through
`runtime.queue.deliver(id, delay_s)`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DBAPIError

from worker.delivery.batch import attempt_batch
from worker.delivery.outbox import deliver_pending, redeliver
from worker.delivery.sending import Outcome
from worker.errors import LifecycleError
from worker.logs import get_logger

if TYPE_CHECKING:
    from worker.runtime.runtime import Runtime

log = get_logger("delivery")


def deliver(runtime: Runtime, delivery_ids: list[int], now: datetime, *, http: Any = None) -> dict[int, Outcome]:
    """Deliver rows (`worker.delivery.batch`). Each retry or order wait goes back on the queue
    as its own delayed delivery, and a row released for lack of time as an immediate one."""
    try:
        rules = runtime.rules(now)
    except LifecycleError as exc:
        log.error("delivery_rules_unavailable", error=str(exc), deliveries=len(delivery_ids))
        return {}
    store, settings = runtime.delivery_store(), runtime.settings
    try:
        outcomes = attempt_batch(store, rules, delivery_ids, now=now, settings=settings, http=http)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        log.warning("delivery_database_reconnect", deliveries=len(delivery_ids))
        outcomes = attempt_batch(store, rules, delivery_ids, now=now, settings=settings, http=http)
    for delivery_id, outcome in outcomes.items():
        if outcome.state == "released":
            runtime.queue.deliver(delivery_id, 0.0)
        elif outcome.state in ("retrying", "waiting") and outcome.next_attempt_at:
            runtime.queue.deliver(delivery_id, max(0.0, (outcome.next_attempt_at - now).total_seconds()))
    return outcomes


def reconcile(runtime: Runtime, now: datetime) -> int:
    """Re-enqueue deliveries whose queue message went missing (the periodic `redeliver`), in
    batches of DELIVERY_BATCH_SIZE; an in-process queue delivers every due row instead."""
    if runtime.queue.in_process:
        return sum(deliver_all_due(runtime, now).values())
    settings = runtime.settings
    return redeliver(runtime.store(), runtime.queue.deliver, now,
                     stale_after=timedelta(seconds=settings.delivery_stale_s),
                     enqueue_batch=runtime.queue.deliver_many, batch_size=settings.delivery_batch_size)


def deliver_all_due(runtime: Runtime, now: datetime, *, http: Any = None) -> dict[str, int]:
    """In-process: deliver everything due now, in this process (what evaluate calls then)."""
    return deliver_pending(runtime.store(), runtime.rules(), now, runtime.settings, http=http)
