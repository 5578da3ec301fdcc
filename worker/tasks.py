"""Dramatiq actors: thin declarations over the use-cases; ids in, explicit retries and limits.

`dramatiq worker.tasks` runs them (REDIS_URL required there); `run` runs them on in-process
threads. Importing this module declares the actors and nothing else: when no broker is
installed yet it installs `worker.runtime.boot.worker_broker()` (no I/O), and the process is
booted — settings, logging, every module a message needs, the `Runtime` — at dramatiq's
process_boot, before any worker thread starts (`worker.runtime.boot`). Each message is one
unit of work: the log context is cleared and rebound at its start, and `now` is read here, at
the entry point, from the runtime's clock, then passed down.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from datetime import datetime
from typing import Any, ParamSpec

import dramatiq

from worker.automations import service as evaluation
from worker.delivery import service as delivery
from worker.errors import LifecycleError
from worker.logs import get_logger, new_unit_of_work
from worker.runtime.boot import boot_worker, worker_broker
from worker.runtime.current import current_runtime
from worker.runtime.runtime import Runtime
from worker.sync import service as sync

MINUTE_MS = 60_000
P = ParamSpec("P")
log = get_logger("tasks")


def runtime() -> Runtime:
    """The process's runtime: the installed one (`run`, tests), else the worker's, booted once."""
    return current_runtime() or boot_worker(BY_NAME)


def unit_of_work(func: Callable[P, None]) -> Callable[P, None]:
    """One message = one unit of work: fresh log context, and a LifecycleError that a retry
    cannot fix (a missing key, invalid rules) is one plain error line, not a retried traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        new_unit_of_work(actor=func.__name__, **inspect.signature(func).bind(*args, **kwargs).arguments)
        try:
            func(*args, **kwargs)
        except LifecycleError as exc:
            if exc.retryable:
                raise
            log.error("job_failed", error=str(exc), problems=getattr(exc, "problems", None))

    return wrapper


if dramatiq.broker.global_broker is None:  # actors bind to the global broker when declared
    dramatiq.set_broker(worker_broker(lambda: runtime()))

_periodic: dict[str, Any] = dict(max_retries=2, min_backoff=5_000, max_backoff=60_000)


@dramatiq.actor(queue_name="sync", time_limit=60 * MINUTE_MS, **_periodic)
@unit_of_work
def sync_events(tick: str) -> None:
    rt = runtime()
    sync.sync_job(rt, rt.clock(), full=False)


@dramatiq.actor(queue_name="sync", time_limit=6 * 60 * MINUTE_MS, **_periodic)
@unit_of_work
def full_reconcile(tick: str) -> None:
    rt = runtime()
    sync.sync_job(rt, rt.clock(), full=True)


@dramatiq.actor(queue_name="sync", time_limit=6 * 60 * MINUTE_MS, **_periodic)
@unit_of_work
def sync_account(account: str, tick: str, full: bool) -> None:
    """One Stripe account's share of a scheduled sync (several accounts: one message each)."""
    rt = runtime()
    sync.sync_job(rt, rt.clock(), full=full, account=account)


@dramatiq.actor(queue_name="sync", time_limit=5 * MINUTE_MS, max_retries=5)
@unit_of_work
def refetch(object_type: str, object_id: str, received_at: str | None = None, account: str = "default",
            event_id: str | None = None) -> None:
    """`received_at` (ISO, when the webhook arrived): skipped when a later read already saw it.
    `event_id` (the webhook's event; absent from older messages): recorded as applied once the
    object is read, so the next poll does not fetch it again for that event."""
    rt = runtime()
    when = datetime.fromisoformat(received_at) if received_at else None
    sync.refetch_job(rt, object_type, object_id, rt.clock(), when, account, event_id=event_id)


@dramatiq.actor(queue_name="evaluate", time_limit=30 * MINUTE_MS, **_periodic)
@unit_of_work
def evaluate(tick: str) -> None:
    rt = runtime()
    evaluation.evaluate_job(rt, rt.clock())


@dramatiq.actor(queue_name="evaluate", time_limit=30 * MINUTE_MS, **_periodic)
@unit_of_work
def evaluate_changes(tick: str) -> None:
    """Evaluate the contacts syncs and re-fetches changed (queued in the database; a burst of
    changes is one pass: the first message drains the queue, the others find it empty)."""
    rt = runtime()
    evaluation.run_evaluation(rt, rt.clock(), changes_only=True)


@dramatiq.actor(queue_name="evaluate", time_limit=30 * MINUTE_MS, **_periodic)
@unit_of_work
def measure(tick: str) -> None:
    rt = runtime()
    evaluation.measure_job(rt, rt.clock())


@dramatiq.actor(queue_name="deliver", time_limit=5 * MINUTE_MS, **_periodic)
@unit_of_work
def redeliver(tick: str) -> None:
    """The reconciler: re-enqueue deliveries whose message was lost (Redis restart, killed worker)."""
    rt = runtime()
    delivery.reconcile(rt, rt.clock())


@dramatiq.actor(queue_name="deliver", time_limit=90_000, max_retries=0)
@unit_of_work
def deliver(delivery_id: int) -> None:
    """A batch of one. Retries live in the delivery row (backoff, dead after the limit), not in
    the queue; a message lost to an error or a crash is re-sent by `redeliver`. The time limit
    stays below the claim's lease (DELIVERY_LEASE_S, 120 s by default) so a stuck send cannot
    outlive it."""
    rt = runtime()
    delivery.deliver(rt, [delivery_id], rt.clock())


@dramatiq.actor(queue_name="deliver", time_limit=90_000, max_retries=0)
@unit_of_work
def deliver_batch(delivery_ids: list[int]) -> None:
    """Many rows in one unit of work (`worker.delivery.batch`): one claim, concurrent sends,
    one result statement. Each row's retry or order wait comes back as its own delayed
    `deliver` message; rows not started within the batch's time budget (half the lease) are
    released and re-enqueued singly, so none outlives its lease here."""
    rt = runtime()
    delivery.deliver(rt, delivery_ids, rt.clock())


ACTORS = (sync_events, full_reconcile, sync_account, refetch,
          evaluate, evaluate_changes, measure, redeliver, deliver, deliver_batch)
BY_NAME = {a.actor_name: a for a in ACTORS}
PERIODIC = {a.actor_name: a for a in (sync_events, full_reconcile, evaluate, measure, redeliver)}
