"""The delivery use-cases wired to the settings (wiring): what `worker.pipeline` and the
embedded `evaluate` call.

A worker process keeps one store (engine and connection pool) per database URL and the last
current rules (`worker.rules.live`), so each delivery resolves its parameters from the
current rules without re-parsing YAML every time. With no valid rules at all, deliveries are
left untouched for the reconciler to retry.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import sessionmaker

from worker.delivery.batch import attempt_batch
from worker.delivery.outbox import Enqueue, EnqueueBatch, deliver_pending, redeliver
from worker.delivery.sending import Outcome, attempt
from worker.errors import LifecycleError
from worker.logs import get_logger
from worker.rules.live import current_rules  # noqa: F401  (re-exported: callers import it here too)
from worker.store.db import Store, open_store

log = get_logger("delivery")
EnqueueLater = Callable[[int, float], Any]  # (delivery id, delay in seconds)

_lock = threading.Lock()
_stores: dict[str, Store] = {}


def store_for(settings: Any) -> Store:
    """The process's store for DATABASE_URL (migrated once, then reused), as `open_store`
    makes it: every commit durable. The evaluate and sync steps use this one too."""
    url = settings.database_url.get_secret_value()
    with _lock:
        if url not in _stores:
            _stores[url] = open_store(url)
        return _stores[url]


def delivery_store_for(settings: Any) -> Store:
    """The store the `deliver` messages use: on PostgreSQL, an engine of its own tuned for the
    delivery bookkeeping (and used for nothing else).

    - A pool as large as a worker's thread count, so no connection is opened per message
      (each attempt holds one connection, send included).
    - No ping before each checkout (a round trip per message): a connection found broken
      (database restarted) invalidates the pool and `deliver` tries once more.
    - `synchronous_commit = off` on these connections only: a claim or a result does not wait
      for its WAL flush (about 8 ms per commit, measured here). After a database crash the last
      fraction of a second of this bookkeeping may be lost: a delivery marked delivered becomes
      pending again and is re-sent with the same idempotency key, so at-least-once holds.
      Firings and delivery rows are written by `evaluate` through `store_for`, durably, so no
      firing can be lost and fired again.
    """
    url = settings.database_url.get_secret_value()
    base = store_for(settings)
    if base.engine.dialect.name != "postgresql":
        return base
    with _lock:
        key = f"delivery:{url}"
        if key not in _stores:
            engine = create_engine(base.engine.url, pool_size=16, max_overflow=16, pool_pre_ping=False,
                                   connect_args={"connect_timeout": 5, "options": "-c synchronous_commit=off"})
            _stores[key] = Store(engine=engine, sessions=sessionmaker(engine, expire_on_commit=False))
        return _stores[key]


def deliver(settings: Any, delivery_id: int, now: datetime, *, enqueue_later: EnqueueLater | None = None,
            http: Any = None) -> Outcome | None:
    """Deliver one row; a retry or an order wait is re-enqueued with a delay via `enqueue_later`."""
    outcome = _with_rules_and_reconnect(attempt, settings, delivery_id, now, http, {"delivery_id": delivery_id})
    if outcome is None:
        return None
    if enqueue_later is not None and outcome.state in ("retrying", "waiting") and outcome.next_attempt_at:
        enqueue_later(delivery_id, max(0.0, (outcome.next_attempt_at - now).total_seconds()))
    return outcome


def deliver_batch(settings: Any, delivery_ids: list[int], now: datetime, *,
                  enqueue_later: EnqueueLater | None = None, http: Any = None) -> dict[int, Outcome]:
    """Deliver a batch of rows (`worker.delivery.batch`). Each retry or order wait goes back on
    the queue as its own delayed message (the per-delivery path), and a row released for lack
    of time as an immediate one, via `enqueue_later`."""
    outcomes = _with_rules_and_reconnect(attempt_batch, settings, delivery_ids, now, http,
                                         {"deliveries": len(delivery_ids)})
    if outcomes is None:
        return {}
    if enqueue_later is not None:
        for delivery_id, outcome in outcomes.items():
            if outcome.state == "released":
                enqueue_later(delivery_id, 0.0)
            elif outcome.state in ("retrying", "waiting") and outcome.next_attempt_at:
                enqueue_later(delivery_id, max(0.0, (outcome.next_attempt_at - now).total_seconds()))
    return outcomes


def _with_rules_and_reconnect(send: Callable, settings: Any, target: Any, now: datetime, http: Any,
                              fields: dict[str, Any]) -> Any:
    """`send(store, rules, target, …)` with the current rules (None, logged, when they cannot be
    read), tried once more when the database dropped the connection under it."""
    try:
        rules = current_rules(settings, now)
    except LifecycleError as exc:
        log.error("delivery_rules_unavailable", error=str(exc), **fields)
        return None
    store = delivery_store_for(settings)
    try:
        return send(store, rules, target, now=now, settings=settings, http=http)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        log.warning("delivery_database_reconnect", **fields)
        return send(store, rules, target, now=now, settings=settings, http=http)


def reconcile(settings: Any, now: datetime, enqueue: Enqueue, enqueue_batch: EnqueueBatch | None = None) -> int:
    """Re-enqueue deliveries whose queue message went missing (the periodic `redeliver`), in
    batches of DELIVERY_BATCH_SIZE when `enqueue_batch` is given."""
    stale = timedelta(seconds=settings.delivery_stale_s)
    return redeliver(store_for(settings), enqueue, now, stale_after=stale, enqueue_batch=enqueue_batch,
                     batch_size=settings.delivery_batch_size)


def deliver_all_due(settings: Any, now: datetime, *, store: Store | None = None, http: Any = None) -> dict[str, int]:
    """Embedded mode: deliver everything due now, in this process (what `evaluate` calls)."""
    rules = current_rules(settings)
    return deliver_pending(store or store_for(settings), rules, now, settings, http=http)
