"""Dramatiq actors: thin, idempotent, ids in, explicit retries and time limits.

`dramatiq worker.tasks` runs them (REDIS_URL required there); the embedded `run` runs them on
in-process threads. Each message is one unit of work: the log context is cleared and rebound
at its start, and `now` is read here, at the entry point, then passed down.
"""

from __future__ import annotations

import functools
from datetime import datetime, timezone

import dramatiq

from worker import pipeline
from worker.logs import configure_logging, new_unit_of_work, register_secrets
from worker.runtime.broker import make_broker
from worker.settings import Settings, load_settings

MINUTE_MS = 60_000


@functools.cache
def settings() -> Settings:
    loaded = load_settings()
    register_secrets(loaded.secrets())
    return loaded


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _boot() -> None:
    """Install a broker before any actor is declared (dramatiq binds actors at declaration)."""
    if dramatiq.broker.global_broker is None:
        configure_logging(settings().log_format, settings().log_level)
        redis_url = settings().redis_url
        dramatiq.set_broker(make_broker(redis_url.get_secret_value() if redis_url else None,
                                        namespace=settings().redis_namespace))


_boot()

_periodic = dict(max_retries=2, min_backoff=5_000, max_backoff=60_000)


@dramatiq.actor(queue_name="sync", time_limit=60 * MINUTE_MS, **_periodic)
def sync_events(tick: str) -> None:
    new_unit_of_work(actor="sync_events", tick=tick)
    pipeline.sync_events(settings(), _now())


@dramatiq.actor(queue_name="sync", time_limit=6 * 60 * MINUTE_MS, **_periodic)
def full_reconcile(tick: str) -> None:
    new_unit_of_work(actor="full_reconcile", tick=tick)
    pipeline.full_reconcile(settings(), _now())


@dramatiq.actor(queue_name="sync", time_limit=5 * MINUTE_MS, max_retries=5)
def refetch(object_type: str, object_id: str) -> None:
    new_unit_of_work(actor="refetch", object_type=object_type, object_id=object_id)
    pipeline.refetch(settings(), object_type, object_id, _now())


@dramatiq.actor(queue_name="evaluate", time_limit=30 * MINUTE_MS, **_periodic)
def evaluate(tick: str) -> None:
    new_unit_of_work(actor="evaluate", tick=tick)
    pipeline.evaluate(settings(), _now())


@dramatiq.actor(queue_name="evaluate", time_limit=30 * MINUTE_MS, **_periodic)
def measure(tick: str) -> None:
    new_unit_of_work(actor="measure", tick=tick)
    pipeline.measure(settings(), _now())


@dramatiq.actor(queue_name="deliver", time_limit=5 * MINUTE_MS, **_periodic)
def redeliver(tick: str) -> None:
    """The reconciler: re-enqueue deliveries whose message was lost (Redis restart, killed worker)."""
    new_unit_of_work(actor="redeliver", tick=tick)
    pipeline.redeliver(settings(), _now())


@dramatiq.actor(queue_name="deliver", time_limit=90_000, max_retries=0)
def deliver(delivery_id: int) -> None:
    """Retries live in the delivery row (backoff, dead after the limit), not in the queue; a
    message lost to an error or a crash is re-sent by `redeliver`. The time limit stays below
    the claim's lease (DELIVERY_LEASE_S, 120 s by default) so a stuck send cannot outlive it."""
    new_unit_of_work(actor="deliver", delivery_id=delivery_id)
    pipeline.deliver(settings(), delivery_id, _now())


ACTORS = (sync_events, full_reconcile, refetch, evaluate, measure, redeliver, deliver)
PERIODIC = {a.actor_name: a for a in (sync_events, full_reconcile, evaluate, measure, redeliver)}
