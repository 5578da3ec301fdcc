"""Use-cases the actors and commands run: sync, evaluate, deliver, measure (wiring layer).

Each takes `now` explicitly (the process entry point reads the clock once) and opens what it
needs from the settings. Steps whose issue has not landed yet log `step_not_built` and return,
so the processes run cleanly while the product grows.
"""

from __future__ import annotations

from datetime import datetime

from worker.logs import get_logger
from worker.settings import Settings

log = get_logger("pipeline")


def _not_built(step: str, issue: int) -> None:
    log.warning("step_not_built", step=step, issue=issue)


def sync_events(settings: Settings, now: datetime) -> None:
    _not_built("sync_events", 3)


def full_reconcile(settings: Settings, now: datetime) -> None:
    _not_built("full_reconcile", 3)


def refetch(settings: Settings, object_type: str, object_id: str, now: datetime) -> None:
    _not_built("refetch", 3)


def evaluate(settings: Settings, now: datetime) -> None:
    _not_built("evaluate", 5)


def measure(settings: Settings, now: datetime) -> None:
    """Write an Outcome for every firing whose goal window has ended as of `now` (issue 7)."""
    import os  # noqa: PLC0415

    from worker.outcomes import measure as measure_outcomes  # noqa: PLC0415
    from worker.rules.loader import load_rules  # noqa: PLC0415
    from worker.store.db import open_store  # noqa: PLC0415

    rules = load_rules(settings.rules_dir, os.environ)
    store = open_store(settings.database_url.get_secret_value())
    try:
        written = measure_outcomes(store, rules, now=now)
    finally:
        store.engine.dispose()
    log.info("measured", outcomes=written)


def redeliver(settings: Settings, now: datetime) -> None:
    """The reconciler: re-enqueue deliveries whose queue message was lost (worker.delivery)."""
    from worker import tasks  # noqa: PLC0415  (tasks imports this module)
    from worker.delivery.service import reconcile  # noqa: PLC0415

    reconcile(settings, now, tasks.deliver.send)


def deliver(settings: Settings, delivery_id: int, now: datetime) -> None:
    """Deliver one delivery row; retries and order waits come back as delayed messages."""
    from worker import tasks  # noqa: PLC0415
    from worker.delivery.service import deliver as deliver_row  # noqa: PLC0415

    def later(row_id: int, delay_s: float) -> None:
        tasks.deliver.send_with_options(args=(row_id,), delay=int(delay_s * 1000))

    deliver_row(settings, delivery_id, now, enqueue_later=later)
