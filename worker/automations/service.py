"""The evaluate and measure use-cases over a `Runtime` (wiring): what the actors, the inline
queue and `stripe-lifecycle evaluate` run.

    result = run_evaluation(runtime, now, dry_run=False, engine="durable")
    measure_job(runtime, now)

Evaluation uses the runtime's current rules (a bad edit keeps the last good rules and logs the
problems — `worker.rules.live.LiveRules`) and its live matcher (the durable-rules engine is
rebuilt whole for new rules while the old one keeps serving — `worker.engine.LiveMatcher`).
After the pass commits, the new deliveries go through `runtime.queue`: an in-process queue
delivers every due row now (`worker.delivery.service.deliver_all_due`), a dramatiq one gets
their ids (`worker.delivery.outbox.enqueue_new`). Then outcomes whose window has ended are
measured.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from worker.automations.evaluate import Evaluation, evaluate
from worker.core.snapshot import ContactSnapshot
from worker.delivery.destinations import create_destination_deliveries, destination_pushes
from worker.delivery.outbox import enqueue_new
from worker.delivery.service import deliver_all_due
from worker.engine import Kind
from worker.logs import get_logger
from worker.outcomes import measure as measure_outcomes
from worker.runtime.heartbeat import record_success
from worker.rules.model import RuleSet

if TYPE_CHECKING:
    from worker.runtime.runtime import Runtime

log = get_logger("evaluate")
PushDestinations = Callable[[Session, ContactSnapshot | None, ContactSnapshot, datetime], list[int]]


def destination_pusher(rules: RuleSet) -> PushDestinations | None:
    """`push_destinations` for `evaluate`: the pushes one contact's change calls for."""

    def push(session: Session, prev: ContactSnapshot | None, new: ContactSnapshot, now: datetime) -> list[int]:
        pushes = destination_pushes(prev, new, rules.destinations)
        return create_destination_deliveries(session, new, pushes, now) if pushes else []

    return push if rules.destinations else None


def run_evaluation(runtime: Runtime, now: datetime, *, dry_run: bool = False,
                   engine: Kind = "durable", changes_only: bool = False) -> Evaluation:
    """Evaluate, then deliver (in-process queue) or enqueue what fired, then measure outcomes.
    `changes_only`: only the contacts syncs and re-fetches queued (worker.automations.scope)."""
    rules = runtime.rules()
    store = runtime.store()
    settings = runtime.settings
    result = evaluate(store, rules, runtime.matcher(rules, engine), now=now, dry_run=dry_run,
                      push_destinations=destination_pusher(rules),
                      full_every=timedelta(seconds=settings.recompute_full_every), changes_only=changes_only)
    if changes_only and not result.contacts:
        return result  # the queue was empty: an earlier pass took these changes
    log.info("evaluated", changes_only=changes_only, contacts=result.contacts, changed=result.changed,
             occurrences=result.occurrences, fired=len(result.fired), baseline=result.baseline, dry_run=dry_run)
    if dry_run:
        return result
    if runtime.queue.in_process:
        counts = deliver_all_due(runtime, now)
        log.info("delivered", **counts)
    else:
        enqueue_new(store, runtime.queue.deliver, result.delivery_ids, enqueue_batch=runtime.queue.deliver_many,
                    batch_size=settings.delivery_batch_size)
    measure_outcomes(store, rules, now=now)
    return result


def evaluate_job(runtime: Runtime, now: datetime) -> Evaluation:
    """The scheduled evaluation pass (every EVALUATE_EVERY seconds, and after a full sync); its
    success is recorded for /healthz."""
    result = run_evaluation(runtime, now)
    record_success(runtime.store(), "evaluate", now, fired=len(result.fired))
    return result


def measure_job(runtime: Runtime, now: datetime) -> int:
    """Write an Outcome for every firing whose goal window has ended as of `now` (the hourly
    job), with the last good rules when a live edit broke a file; its success is recorded."""
    store = runtime.store()
    written = measure_outcomes(store, runtime.rules(now), now=now)
    record_success(store, "measure", now, outcomes=written)
    log.info("measured", outcomes=written)
    return written
