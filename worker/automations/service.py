"""Evaluation as the processes run it: current rules, a live engine, delivery hand-off (wiring).

The rules are re-read when a file changes (a bad edit keeps the last good rules and logs the
problems — `worker.rules.live.current_rules`); the durable-rules engine is rebuilt
whole for new rules while the old one keeps serving (`worker.engine.LiveMatcher`). After the
pass commits, new deliveries are delivered in-process (embedded) or enqueued (Redis), and
outcomes whose window has ended are measured.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from worker.automations.evaluate import Evaluation, evaluate
from worker.core.snapshot import ContactSnapshot
from worker.delivery.destinations import create_destination_deliveries, destination_pushes
from worker.delivery.outbox import enqueue_new
from worker.delivery.service import deliver_all_due, store_for
from worker.engine import LiveMatcher, matcher_factory
from worker.logs import get_logger
from worker.outcomes import measure as measure_outcomes
from worker.rules.live import current_rules
from worker.rules.model import RuleSet
from worker.settings import Settings
from worker.store.db import Store

log = get_logger("evaluate")
_lock = threading.Lock()
_live: dict[str, Any] = {}


def live_matcher(rules: RuleSet, engine: str = "durable") -> LiveMatcher:
    """The process's matcher, reloaded when `rules` is a new RuleSet (a changed rule file)."""
    with _lock:
        current = _live.get(engine)
        if current is None:
            current = LiveMatcher(matcher_factory(engine), rules.automations)
            _live[engine] = current
            _live[f"{engine}:rules"] = rules
        elif _live[f"{engine}:rules"] is not rules:
            current.reload(rules.automations)
            _live[f"{engine}:rules"] = rules
            log.info("rules_reloaded", generation=current.generation, automations=len(rules.automations))
        return current


def destination_pusher(rules: RuleSet):  # noqa: ANN201
    """`push_destinations` for `evaluate`: the pushes one contact's change calls for."""

    def push(session: Session, prev: ContactSnapshot | None, new: ContactSnapshot, now: datetime) -> list[int]:
        pushes = destination_pushes(prev, new, rules.destinations)
        return create_destination_deliveries(session, new, pushes, now) if pushes else []

    return push if rules.destinations else None


def run_evaluation(settings: Settings, now: datetime, *, dry_run: bool = False, store: Store | None = None,
                   engine: str = "durable", changes_only: bool = False) -> Evaluation:
    """Evaluate, then deliver (embedded) or enqueue (Redis) what fired, then measure outcomes.
    `changes_only`: only the contacts syncs and re-fetches queued (worker.automations.scope)."""
    rules = current_rules(settings)
    store = store or store_for(settings)
    result = evaluate(store, rules, live_matcher(rules, engine), now=now, dry_run=dry_run,
                      push_destinations=destination_pusher(rules),
                      full_every=timedelta(seconds=settings.recompute_full_every), changes_only=changes_only)
    if changes_only and not result.contacts:
        return result  # the queue was empty: an earlier pass took these changes
    log.info("evaluated", changes_only=changes_only, contacts=result.contacts, changed=result.changed, occurrences=result.occurrences,
             fired=len(result.fired), baseline=result.baseline, dry_run=dry_run)
    if dry_run:
        return result
    if settings.embedded:
        counts = deliver_all_due(settings, now, store=store)
        log.info("delivered", **counts)
    else:
        from worker import tasks  # noqa: PLC0415

        enqueue_new(store, tasks.deliver.send, result.delivery_ids, enqueue_batch=tasks.deliver_batch.send,
                    batch_size=settings.delivery_batch_size)
    measure_outcomes(store, rules, now=now)
    return result
