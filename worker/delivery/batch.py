"""Delivering delivery rows as one unit of work (wiring): what the `deliver` and
`deliver_batch` actors run. A single delivery is a batch of one.

    outcomes = attempt_batch(store, rules, [id, id, …], now=now, settings=settings)
    outcome = attempt(store, rules, id, now=now, settings=settings)    # = a batch of one
    state = deliver_one(store, rules, id, now=now, settings=settings)  # its state

Per delivery the steps are those of `worker.delivery.sending` (claim, order per contact and
target, resolve from the current rules, send with the row's idempotency key, record with its
own backoff or dead letter); what a batch changes is the cost. Sending one row used three SQL
statements and one queue message, which cost more CPU than the HTTP request itself. Here:

1. One `UPDATE … WHERE id IN (…) AND claimable RETURNING *` claims every claimable row under
   one lease value; rows another worker holds, not yet due, or already final are left alone.
2. One query reads, for all of them, the earlier active rows of the same contact and target
   (order) and the firing's fields. A row held back waits exactly as a single one does.
3. The sends go over the process's shared keep-alive HTTP client, one after another while the
   receiver answers fast, concurrently on a small per-process thread pool (`SEND_WIDTH`) once
   one is slow (see `_send_all`). A send not *started* within the batch's time
   budget (half the lease, at most 45 s) is not attempted: its lease is released and it goes
   back on the queue on its own, so a slow receiver can never hold rows past their lease
   (which would let the reconciler send them a second time while this worker still does).
4. All successes are recorded in one fenced UPDATE; each failure gets its own result
   (retrying with its own backoff and `Retry-After`, or dead), exactly as a single send.

A worker killed mid-batch leaves its rows leased; they come free when the lease ends and the
reconciler re-enqueues them (a send the receiver got but the worker did not record is sent
again with the same idempotency key).
"""

from __future__ import annotations

import contextvars
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from worker.delivery import rows
from worker.delivery.backoff import order_wait_until
from worker.delivery.sending import (
    DeliveryPolicy,
    Outcome,
    autocommit,
    log_attempt,
    result_of,
    unclaimed_outcomes,
)
from worker.delivery.sending import send as send_one
from worker.logs import get_logger
from worker.rules.model import RuleSet
from worker.store.db import Store

log = get_logger("delivery")
SEND_WIDTH = 16  # concurrent sends per worker process, across all its batches
MAX_BUDGET_S = 45.0  # sends start within this; the actor's time limit (90 s) covers their timeouts
SLOW_SEND_S = 0.25  # a send slower than this turns the rest of its batch concurrent
NOT_STARTED = object()  # a send skipped because the batch ran out of time

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def send_pool() -> ThreadPoolExecutor:
    """The process's sending threads, created on first use (never inherited across a fork)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=SEND_WIDTH, thread_name_prefix="deliver-send")
        return _pool


def attempt_batch(store: Store, rules: RuleSet, ids: Sequence[int], *, now: datetime, settings: Any,
                  http: Any = None, rng: Callable[[], float] = random.random) -> dict[int, Outcome]:
    """Deliver the due, free rows among `ids`; an `Outcome` per id (`released` = claimed but
    not attempted for lack of time: to be enqueued again)."""
    policy = DeliveryPolicy.from_settings(settings)
    lease_until = now + timedelta(seconds=policy.lease_s)
    deadline = time.monotonic() + min(MAX_BUDGET_S, policy.lease_s / 2)
    with autocommit(store) as conn:
        claimed = rows.claim_many(conn, ids, now, lease_until)
        taken = {row.id for row in claimed}
        outcomes = unclaimed_outcomes(conn, [i for i in dict.fromkeys(ids) if i not in taken], now)
        contexts = rows.contexts_of(conn, claimed)
    jobs = [_job(row, contexts[row.id]) for row in claimed]
    ready = [job for job in jobs if not job.blockers]
    failures = _send_all(ready, rules, now=now, settings=settings, http=http, deadline=deadline)
    with autocommit(store) as conn:
        outcomes.update(_hold_back(conn, [job for job in jobs if job.blockers], now, lease_until, rng))
        outcomes.update(_record(conn, ready, failures, now=now, lease_until=lease_until, policy=policy, rng=rng))
    return outcomes


def attempt(store: Store, rules: RuleSet, delivery_id: int, *, now: datetime, settings: Any,
            http: Any = None, rng: Callable[[], float] = random.random) -> Outcome:
    """Deliver one row if it is due and free (a batch of one); its `Outcome`, with the next
    attempt time when rescheduled."""
    return attempt_batch(store, rules, [delivery_id], now=now, settings=settings, http=http, rng=rng)[delivery_id]


def deliver_one(store: Store, rules: RuleSet, delivery_id: int, *, now: datetime, settings: Any,
                http: Any = None, rng: Callable[[], float] = random.random) -> str:
    """Deliver one row if it is due and free; its resulting state (see `Outcome`)."""
    return attempt(store, rules, delivery_id, now=now, settings=settings, http=http, rng=rng).state


def _job(row: Any, context: Any) -> SimpleNamespace:
    fields = {key: value for key, value in context._mapping.items() if key != "context_of"}
    return SimpleNamespace(**row._mapping, **fields)


def _hold_back(conn: Any, jobs: list[Any], now: datetime, lease_until: datetime,
               rng: Callable[[], float]) -> dict[int, Outcome]:
    """Rows behind an earlier active row of the same contact and target wait (no attempt)."""
    outcomes = {}
    for job in jobs:
        wait = order_wait_until(now, job.blocker_due, rng())
        rows.finish(conn, job, lease_until, next_attempt_at=wait, enqueued_at=wait)
        log.debug("delivery_waits", delivery_id=job.id, contact_id=job.contact_id, target=job.target)
        outcomes[job.id] = Outcome("waiting", wait)
    return outcomes


def _send_all(jobs: list[Any], rules: RuleSet, *, now: datetime, settings: Any, http: Any,
              deadline: float) -> list[Any]:
    """Each job's failure (None on success, NOT_STARTED when out of time), in job order.

    Sends go one after another on this thread while the receiver answers fast (a thread
    hand-off costs more CPU than a fast local POST); once one send takes longer than
    `SLOW_SEND_S`, the rest of the batch is sent concurrently on the process's send pool, so a
    slow receiver costs a batch about one timeout per `SEND_WIDTH` rows, not one per row."""

    def send(job: Any) -> Any:
        if time.monotonic() > deadline:
            return NOT_STARTED
        return send_one(job, rules, now=now, settings=settings, http=http)

    results: list[Any] = []
    for index, job in enumerate(jobs):
        started = time.monotonic()
        results.append(send(job))
        if time.monotonic() - started > SLOW_SEND_S and index + 1 < len(jobs):
            # Each send runs in a copy of this message's log context (structlog contextvars).
            futures = [send_pool().submit(contextvars.copy_context().run, send, rest) for rest in jobs[index + 1:]]
            return results + [future.result() for future in futures]
    return results


def _record(conn: Any, jobs: list[Any], failures: list[Any], *, now: datetime, lease_until: datetime,
            policy: DeliveryPolicy, rng: Callable[[], float]) -> dict[int, Outcome]:
    """One fenced UPDATE for every success; one result per failure; leases of unsent rows freed."""
    sent = [job for job, failure in zip(jobs, failures) if failure is None]
    held = rows.finish_delivered(conn, [job.id for job in sent], lease_until, now)
    outcomes = {}
    for job in sent:
        outcomes[job.id] = Outcome("delivered")
        log_attempt(job, outcomes[job.id], {"attempts": job.attempts + 1}, job.id in held)
    unsent = [job.id for job, failure in zip(jobs, failures) if failure is NOT_STARTED]
    rows.release(conn, unsent, lease_until)
    outcomes.update({delivery_id: Outcome("released") for delivery_id in unsent})
    for job, failure in zip(jobs, failures):
        if failure is None or failure is NOT_STARTED:
            continue
        values, outcome = result_of(job, failure, now=now, policy=policy, rng=rng)
        log_attempt(job, outcome, values, rows.finish(conn, job, lease_until, **values))
        outcomes[job.id] = outcome
    if unsent:
        log.warning("delivery_batch_out_of_time", released=len(unsent), sent=len(jobs) - len(unsent))
    return outcomes
