"""The sync use-cases over a `Runtime` (wiring): what the actors, the inline queue and the CLI run.

    report = sync_now(runtime, now, full=False, progress=None)   # `sync` command: raises SyncBusy
    sync_job(runtime, now, full=False)                           # the scheduled sync / reconcile
    refetch_job(runtime, "subscription", "sub_1", now, received_at=None)   # a webhook's re-fetch

Each uses the runtime's store, Stripe client and current rules (`contacts:`/`mrr:`/stages of the
one loader, so `${VAR}` from `.env` works everywhere, and the last good rules when a live edit
broke a file). The jobs queue the contacts they changed (`worker.automations.scope`) and ask
for a changes pass through `runtime.queue` (a full sync: a whole evaluation) rather than
waiting for the next tick; a scheduled sync also records its time for `/healthz`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from worker.automations.scope import queue_contacts
from worker.logs import get_logger
from worker.sync.lock import SyncBusy
from worker.sync.run import OnChanged, Progress, SyncReport
from worker.sync.runner import read_since, refetch, run_sync
from worker.sync.state import LAST_SYNC_KEY, put_state

if TYPE_CHECKING:
    from worker.runtime.runtime import Runtime

log = get_logger("sync")


def sync_now(runtime: Runtime, now: datetime, *, full: bool, progress: Progress | None = None,
             on_changed: OnChanged | None = None, history: bool = False) -> SyncReport:
    """One sync now (full or incremental, see `run_sync`); SyncBusy when another one runs."""
    stripe = runtime.stripe()  # a missing STRIPE_API_KEY is the first thing said
    rules, settings = runtime.rules(now), runtime.settings
    return run_sync(runtime.store(), stripe, rules.source, full=full, now=now, progress=progress,
                    on_changed=on_changed, reconcile_every=timedelta(seconds=settings.reconcile_every),
                    history_months=settings.history_months, stages=rules.stages, history=history)


def queue_changed(runtime: Runtime, now: datetime) -> OnChanged:
    """`on_changed` for a sync or re-fetch: queue the changed contacts for a changes pass."""

    def on_changed(contact_ids: Iterable[str], at: datetime | None) -> None:
        ids = list(contact_ids)
        if ids:
            with runtime.store().session() as session:
                queue_contacts(session, ids, now)

    return on_changed


def sync_job(runtime: Runtime, now: datetime, *, full: bool) -> SyncReport | None:
    """The scheduled sync (`full`: the daily reconcile); skipped when another sync runs."""
    try:
        report = sync_now(runtime, now, full=full, on_changed=queue_changed(runtime, now))
    except SyncBusy:
        log.info("sync_skipped", reason="another sync of this database is running")
        return None
    with runtime.store().session() as session:
        put_state(session, LAST_SYNC_KEY, {"at": now.isoformat(), "mode": report.mode}, now)
    log.info("synced", mode=report.mode, customers=report.customers, subscriptions=report.subscriptions,
             events=report.events_applied, quarantined=len(report.quarantined))
    if report.mode == "full":
        runtime.queue.evaluate(now)
    elif report.customers_changed or report.subscriptions_changed:
        runtime.queue.evaluate_changes(now)
    return report


def refetch_job(runtime: Runtime, object_type: str, object_id: str, now: datetime,
                received_at: datetime | None = None) -> SyncReport | None:
    """A webhook (received at `received_at`) said an object changed: re-read it from Stripe,
    unless a sync that started after the webhook arrived already did; then ask for a changes
    pass over the contacts it changed."""
    store = runtime.store()
    if received_at is not None and read_since(store, object_type, object_id, received_at):
        log.info("refetch_skipped", object_type=object_type, object_id=object_id,
                 reason="already read after the webhook arrived")
        return None
    report = refetch(store, runtime.stripe(), object_type, object_id, now, queue_changed(runtime, now),
                     source_config=runtime.rules(now).source)
    if report.customers_changed or report.subscriptions_changed:
        runtime.queue.evaluate_changes(now)
    return report
