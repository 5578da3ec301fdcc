"""The sync use-cases over a `Runtime` (wiring): what the actors, the inline queue and the CLI run.

    report = sync_now(runtime, now, full=False, progress=None)   # `sync` command: raises SyncBusy
    sync_job(runtime, now, full=False)                           # the scheduled sync / reconcile
    refetch_job(runtime, "subscription", "sub_1", now)           # a webhook's re-fetch

Each uses the runtime's store, Stripe client and current rules (`contacts:`/`mrr:` of the one
loader, so `${VAR}` from `.env` works everywhere). After a scheduled sync, the time is recorded
for `/healthz` and, when anything changed, an evaluation is enqueued through `runtime.queue`
rather than waiting for the next tick; a re-fetch that changed something does the same.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from worker.logs import get_logger
from worker.sync.lock import SyncBusy
from worker.sync.run import OnChanged, Progress, SyncReport
from worker.sync.runner import refetch, run_sync
from worker.sync.state import LAST_SYNC_KEY, put_state

if TYPE_CHECKING:
    from worker.runtime.runtime import Runtime

log = get_logger("sync")


def sync_now(runtime: Runtime, now: datetime, *, full: bool, progress: Progress | None = None,
             on_changed: OnChanged | None = None) -> SyncReport:
    """One sync now (full or incremental, see `run_sync`); SyncBusy when another one runs."""
    return run_sync(runtime.store(), runtime.stripe(), runtime.rules(now).source, full=full, now=now,
                    progress=progress, on_changed=on_changed,
                    reconcile_every=timedelta(seconds=runtime.settings.reconcile_every))


def sync_job(runtime: Runtime, now: datetime, *, full: bool) -> SyncReport | None:
    """The scheduled sync (`full`: the daily reconcile); skipped when another sync runs."""
    try:
        report = sync_now(runtime, now, full=full)
    except SyncBusy:
        log.info("sync_skipped", reason="another sync of this database is running")
        return None
    with runtime.store().session() as session:
        put_state(session, LAST_SYNC_KEY, {"at": now.isoformat(), "mode": report.mode}, now)
    log.info("synced", mode=report.mode, customers=report.customers, subscriptions=report.subscriptions,
             events=report.events_applied, quarantined=len(report.quarantined))
    if report.customers_changed or report.subscriptions_changed or report.mode == "full":
        runtime.queue.evaluate(now)
    return report


def refetch_job(runtime: Runtime, object_type: str, object_id: str, now: datetime) -> SyncReport:
    """A webhook said an object changed: re-read it from Stripe, then evaluate if it changed."""
    report = refetch(runtime.store(), runtime.stripe(), object_type, object_id, now,
                     source_config=runtime.rules(now).source)
    if report.customers_changed or report.subscriptions_changed:
        runtime.queue.evaluate(now)
    return report
