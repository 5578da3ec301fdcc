"""Use-cases the actors and commands run: sync, evaluate, deliver, measure (wiring layer).

Each takes `now` explicitly (the process entry point reads the clock once) and opens what it
needs from the settings.
"""

from __future__ import annotations

from datetime import datetime

from worker.logs import get_logger
from worker.settings import Settings

log = get_logger("pipeline")


def _after_sync(settings: Settings, report, now: datetime) -> None:  # noqa: ANN001
    """Record the sync for /healthz; when anything changed, evaluate now rather than at the next tick."""
    from worker.delivery.service import store_for  # noqa: PLC0415
    from worker.sync.state import put_state  # noqa: PLC0415
    from worker.web.metrics import LAST_SYNC_KEY  # noqa: PLC0415

    with store_for(settings).session() as session:
        put_state(session, LAST_SYNC_KEY, {"at": now.isoformat(), "mode": report.mode}, now)
    log.info("synced", mode=report.mode, customers=report.customers, subscriptions=report.subscriptions,
             events=report.events_applied, quarantined=len(report.quarantined))
    from worker import tasks  # noqa: PLC0415

    if report.mode == "full":
        tasks.evaluate.send(tick=now.isoformat())
    elif report.customers_changed or report.subscriptions_changed:
        _evaluate_changes_soon(now)


#: How long a changes pass waits, so the changes of a burst (webhooks, an events page) are one pass.
COALESCE_MS = 250


def _queue_changed(settings: Settings, now: datetime):  # noqa: ANN202
    """`on_changed` for a sync or re-fetch: queue the changed contacts for a changes pass."""
    from worker.automations.scope import queue_contacts  # noqa: PLC0415
    from worker.delivery.service import store_for  # noqa: PLC0415

    def on_changed(contact_ids, at) -> None:  # noqa: ANN001
        if contact_ids:
            with store_for(settings).session() as session:
                queue_contacts(session, contact_ids, now)

    return on_changed


def _evaluate_changes_soon(now: datetime) -> None:
    from worker import tasks  # noqa: PLC0415

    tasks.evaluate_changes.send_with_options(kwargs={"tick": now.isoformat()}, delay=COALESCE_MS)


def _sync(settings: Settings, now: datetime, *, full: bool) -> None:
    from worker.sync.lock import SyncBusy  # noqa: PLC0415
    from worker.sync.runner import sync_from_settings  # noqa: PLC0415

    try:
        report = sync_from_settings(settings, full=full, now=now, on_changed=_queue_changed(settings, now))
    except SyncBusy:
        log.info("sync_skipped", reason="another sync of this database is running")
        return
    _after_sync(settings, report, now)


def sync_events(settings: Settings, now: datetime) -> None:
    """Incremental sync from the Events API (a full reconcile when one is due)."""
    _sync(settings, now, full=False)


def full_reconcile(settings: Settings, now: datetime) -> None:
    """The daily full backfill/reconcile."""
    _sync(settings, now, full=True)


def refetch(settings: Settings, object_type: str, object_id: str, now: datetime,
            received_at: datetime | None = None) -> None:
    """A webhook (received at `received_at`) said an object changed: re-read it from Stripe,
    unless a sync that started after the webhook arrived already did; then evaluate its contacts."""
    from worker.delivery.service import store_for  # noqa: PLC0415
    from worker.sync.runner import api_from_settings, live_source_config, read_since, refetch as refetch_object  # noqa: PLC0415,E501

    if received_at is not None and read_since(store_for(settings), object_type, object_id, received_at):
        log.info("refetch_skipped", object_type=object_type, object_id=object_id,
                 reason="already read after the webhook arrived")
        return
    report = refetch_object(store_for(settings), api_from_settings(settings), object_type, object_id, now,
                            _queue_changed(settings, now),
                            source_config=live_source_config(settings))
    if report.customers_changed or report.subscriptions_changed:
        _evaluate_changes_soon(now)


def evaluate_changes(settings: Settings, now: datetime) -> None:
    """A changes pass: evaluate the contacts syncs and re-fetches queued (none queued: nothing)."""
    from worker.automations.service import run_evaluation  # noqa: PLC0415

    run_evaluation(settings, now, changes_only=True)


def evaluate(settings: Settings, now: datetime) -> None:
    """The scheduled evaluation pass (every EVALUATE_EVERY seconds, and after each sync)."""
    from worker.automations.service import run_evaluation  # noqa: PLC0415
    from worker.delivery.service import store_for  # noqa: PLC0415
    from worker.runtime.heartbeat import record_success  # noqa: PLC0415

    result = run_evaluation(settings, now)
    record_success(store_for(settings), "evaluate", now, fired=len(result.fired))


def measure(settings: Settings, now: datetime) -> None:
    """Write an Outcome for every firing whose goal window has ended as of `now` (issue 7)."""
    from worker.outcomes import measure as measure_outcomes  # noqa: PLC0415
    from worker.rules.live import current_rules  # noqa: PLC0415
    from worker.store.db import open_store  # noqa: PLC0415

    rules = current_rules(settings, now)  # the last good rules when a live edit broke a file
    store = open_store(settings.database_url.get_secret_value())
    try:
        written = measure_outcomes(store, rules, now=now)
        from worker.runtime.heartbeat import record_success  # noqa: PLC0415

        record_success(store, "measure", now, outcomes=written)
    finally:
        store.engine.dispose()
    log.info("measured", outcomes=written)


def redeliver(settings: Settings, now: datetime) -> None:
    """The reconciler: re-enqueue deliveries whose queue message was lost (worker.delivery)."""
    from worker import tasks  # noqa: PLC0415  (tasks imports this module)
    from worker.delivery.service import reconcile  # noqa: PLC0415

    reconcile(settings, now, tasks.deliver.send, tasks.deliver_batch.send)


def deliver(settings: Settings, delivery_id: int, now: datetime) -> None:
    """Deliver one delivery row; retries and order waits come back as delayed messages."""
    from worker import tasks  # noqa: PLC0415
    from worker.delivery.service import deliver as deliver_row  # noqa: PLC0415

    def later(row_id: int, delay_s: float) -> None:
        tasks.deliver.send_with_options(args=(row_id,), delay=int(delay_s * 1000))

    deliver_row(settings, delivery_id, now, enqueue_later=later)


def deliver_batch(settings: Settings, delivery_ids: list[int], now: datetime) -> None:
    """Deliver a batch of rows; each retry or order wait comes back as its own delayed message."""
    from worker import tasks  # noqa: PLC0415
    from worker.delivery.service import deliver_batch as deliver_rows  # noqa: PLC0415

    def later(row_id: int, delay_s: float) -> None:
        tasks.deliver.send_with_options(args=(row_id,), delay=int(delay_s * 1000))

    deliver_rows(settings, delivery_ids, now, enqueue_later=later)
