"""Dramatiq actors: thin, idempotent, ids in, explicit retries and time limits.

`dramatiq worker.tasks` runs them (REDIS_URL required there); the embedded `run` runs them on
in-process threads. Each message is one unit of work: the log context is cleared and rebound
at its start, and `now` is read here, at the entry point, then passed down.
"""

from __future__ import annotations

import functools
import inspect
from datetime import datetime, timezone

import dramatiq

from worker import pipeline
from worker.errors import LifecycleError
from worker.logs import configure_logging, get_logger, new_unit_of_work, register_secrets
from worker.runtime.broker import make_broker
from worker.settings import Settings, load_settings

MINUTE_MS = 60_000
log = get_logger("tasks")


@functools.cache
def settings() -> Settings:
    loaded = load_settings()
    register_secrets(loaded.secrets())
    return loaded


def _now() -> datetime:
    return datetime.now(timezone.utc)


def unit_of_work(func):  # noqa: ANN001, ANN201
    """One message = one unit of work: fresh log context, and a LifecycleError that a retry
    cannot fix (a missing key, invalid rules) is one plain error line, not a retried traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        new_unit_of_work(actor=func.__name__, **inspect.signature(func).bind(*args, **kwargs).arguments)
        try:
            return func(*args, **kwargs)
        except LifecycleError as exc:
            if exc.retryable:
                raise
            log.error("job_failed", error=str(exc), problems=getattr(exc, "problems", None))
            return None

    return wrapper


def _boot() -> None:
    """Install a broker before any actor is declared (dramatiq binds actors at declaration)."""
    if dramatiq.broker.global_broker is None:
        configure_logging(settings().log_format, settings().log_level)
        redis_url = settings().redis_url
        broker = make_broker(redis_url.get_secret_value() if redis_url else None, namespace=settings().redis_namespace)
        if redis_url:  # `dramatiq worker.tasks`: heartbeats for /healthz (issue 16)
            from worker.runtime.heartbeat import HeartbeatMiddleware  # noqa: PLC0415

            broker.add_middleware(HeartbeatMiddleware(settings()))
        dramatiq.set_broker(broker)


_boot()

_periodic = dict(max_retries=2, min_backoff=5_000, max_backoff=60_000)


@dramatiq.actor(queue_name="sync", time_limit=60 * MINUTE_MS, **_periodic)
@unit_of_work
def sync_events(tick: str) -> None:
    pipeline.sync_events(settings(), _now())


@dramatiq.actor(queue_name="sync", time_limit=6 * 60 * MINUTE_MS, **_periodic)
@unit_of_work
def full_reconcile(tick: str) -> None:
    pipeline.full_reconcile(settings(), _now())


@dramatiq.actor(queue_name="sync", time_limit=5 * MINUTE_MS, max_retries=5)
@unit_of_work
def refetch(object_type: str, object_id: str, received_at: str | None = None) -> None:
    """`received_at` (ISO, when the webhook arrived): skipped when a later read already saw it."""
    when = datetime.fromisoformat(received_at) if received_at else None
    pipeline.refetch(settings(), object_type, object_id, _now(), received_at=when)


@dramatiq.actor(queue_name="evaluate", time_limit=30 * MINUTE_MS, **_periodic)
@unit_of_work
def evaluate(tick: str) -> None:
    pipeline.evaluate(settings(), _now())


@dramatiq.actor(queue_name="evaluate", time_limit=30 * MINUTE_MS, **_periodic)
@unit_of_work
def evaluate_changes(tick: str) -> None:
    """Evaluate the contacts syncs and re-fetches changed (queued in the database; a burst of
    changes is one pass: the first message drains the queue, the others find it empty)."""
    pipeline.evaluate_changes(settings(), _now())


@dramatiq.actor(queue_name="evaluate", time_limit=30 * MINUTE_MS, **_periodic)
@unit_of_work
def measure(tick: str) -> None:
    pipeline.measure(settings(), _now())


@dramatiq.actor(queue_name="deliver", time_limit=5 * MINUTE_MS, **_periodic)
@unit_of_work
def redeliver(tick: str) -> None:
    """The reconciler: re-enqueue deliveries whose message was lost (Redis restart, killed worker)."""
    pipeline.redeliver(settings(), _now())


@dramatiq.actor(queue_name="deliver", time_limit=90_000, max_retries=0)
@unit_of_work
def deliver(delivery_id: int) -> None:
    """Retries live in the delivery row (backoff, dead after the limit), not in the queue; a
    message lost to an error or a crash is re-sent by `redeliver`. The time limit stays below
    the claim's lease (DELIVERY_LEASE_S, 120 s by default) so a stuck send cannot outlive it."""
    pipeline.deliver(settings(), delivery_id, _now())


@dramatiq.actor(queue_name="deliver", time_limit=90_000, max_retries=0)
@unit_of_work
def deliver_batch(delivery_ids: list[int]) -> None:
    """Many rows in one unit of work (`worker.delivery.batch`): one claim, concurrent sends,
    one result statement. Same retry rules as `deliver`: each row's retry or order wait comes
    back as its own delayed `deliver` message; rows not started within the batch's time budget
    (half the lease) are released and re-enqueued singly, so none outlives its lease here."""
    pipeline.deliver_batch(settings(), delivery_ids, _now())


ACTORS = (sync_events, full_reconcile, refetch, evaluate, evaluate_changes, measure, redeliver, deliver, deliver_batch)
PERIODIC = {a.actor_name: a for a in (sync_events, full_reconcile, evaluate, measure, redeliver)}
