"""The sync use-cases over a `Runtime` (wiring): what the actors, the inline queue and the CLI run.

    report = sync_now(runtime, now, full=False, progress=None)   # `sync` command: raises SyncBusy
    sync_job(runtime, now, full=False)                           # the scheduled sync / reconcile
    refetch_job(runtime, "subscription", "sub_1", now, received_at=None, event_id="evt_1")  # a webhook's

Several Stripe accounts (rules/stripe.yaml `accounts:`; worker.sync.accounts): each use-case
takes an `account` (default: `default`). The scheduled sync of a deployment with several
accounts is one message per account (`runtime.queue.sync_account`), so workers sync them in
parallel, and one account failing (a revoked key, Stripe down for it) stops none of the others.

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
from worker.sync import applied
from worker.sync.lock import SyncBusy
from worker.sync.run import OnChanged, Progress, SyncReport
from worker.sync.runner import read_since, refetch, run_sync
from worker.sync.state import LAST_SYNC_KEY, put_state
from worker.store.models import DEFAULT_ACCOUNT
from worker.sync.accounts import state_key

if TYPE_CHECKING:
    from worker.runtime.runtime import Runtime

log = get_logger("sync")


def sync_now(runtime: Runtime, now: datetime, *, full: bool, progress: Progress | None = None,
             on_changed: OnChanged | None = None, history: bool = False,
             account: str = DEFAULT_ACCOUNT) -> SyncReport:
    """One sync of `account` now (full or incremental, see `run_sync`); SyncBusy when another
    sync of that account runs."""
    stripe = runtime.stripe(account)  # a missing key is the first thing said
    rules, settings = runtime.rules(now), runtime.settings
    return run_sync(runtime.store(), stripe, rules.source, full=full, now=now, progress=progress,
                    on_changed=on_changed, reconcile_every=timedelta(seconds=settings.reconcile_every),
                    history_months=settings.history_months, stages=rules.stages, history=history,
                    account=account)


def queue_changed(runtime: Runtime, now: datetime) -> OnChanged:
    """`on_changed` for a sync or re-fetch: queue the changed contacts for a changes pass."""

    def on_changed(contact_ids: Iterable[str], at: datetime | None) -> None:
        ids = list(contact_ids)
        if ids:
            with runtime.store().session() as session:
                queue_contacts(session, ids, now)

    return on_changed


def sync_job(runtime: Runtime, now: datetime, *, full: bool,
             account: str | None = None) -> SyncReport | None:
    """The scheduled sync (`full`: the daily reconcile) of `account`; of every account when None
    (several: one `sync_account` message each, run by whichever workers are free); skipped when
    another sync of the account runs."""
    if account is None:
        names = [a.name for a in runtime.accounts(now)]
        if len(names) > 1:
            for name in names:
                runtime.queue.sync_account(name, now, full=full)
            return None
        account = names[0]
    try:
        report = sync_now(runtime, now, full=full, on_changed=queue_changed(runtime, now), account=account)
    except SyncBusy:
        log.info("sync_skipped", account=account, reason="another sync of this account is running")
        return None
    with runtime.store().session() as session:
        last = {"at": now.isoformat(), "mode": report.mode, "account": account}
        put_state(session, state_key(account, LAST_SYNC_KEY), last, now)
        if account != DEFAULT_ACCOUNT:
            put_state(session, LAST_SYNC_KEY, last, now)  # `/healthz`: the last sync of any account
    log.info("synced", account=account, mode=report.mode, customers=report.customers,
             subscriptions=report.subscriptions, events=report.events_applied, quarantined=len(report.quarantined))
    if report.mode == "full":
        runtime.queue.evaluate(now)
    elif report.customers_changed or report.subscriptions_changed:
        runtime.queue.evaluate_changes(now)
    return report


def sync_account_job(runtime: Runtime, account: str, now: datetime, *, full: bool) -> SyncReport | None:
    """One account's share of the scheduled sync, run in-process (embedded, demo, tests): an
    account that fails is logged and left for the next tick, the others still sync."""
    try:
        return sync_job(runtime, now, full=full, account=account)
    except Exception as exc:  # noqa: BLE001 - one account's failure must not stop the others
        log.error("sync_failed", account=account, error=str(exc), error_type=type(exc).__name__)
        return None


def refetch_job(runtime: Runtime, object_type: str, object_id: str, now: datetime,
                received_at: datetime | None = None, account: str = DEFAULT_ACCOUNT, *,
                event_id: str | None = None) -> SyncReport | None:
    """A webhook (received at `received_at`, for the event `event_id`) said an object of
    `account` changed: re-read it from that account, unless a sync that started after the
    webhook arrived already did; then ask for a changes pass over the contacts it changed.

    Either way the object has been read after the event arrived, so the event is recorded as
    applied (worker.sync.applied) and the next poll does not fetch the object again for it.
    A re-fetch that fails records nothing: the poll still re-fetches."""
    store = runtime.store()
    if received_at is not None and read_since(store, object_type, object_id, received_at, account):
        log.info("refetch_skipped", account=account, object_type=object_type, object_id=object_id,
                 reason="already read after the webhook arrived")
        _record_applied(runtime, account, event_id, object_type, object_id, now)
        return None
    report = refetch(store, runtime.stripe(account), object_type, object_id, now, queue_changed(runtime, now),
                     source_config=runtime.rules(now).source, account=account)
    _record_applied(runtime, account, event_id, object_type, object_id, now)
    if report.customers_changed or report.subscriptions_changed:
        runtime.queue.evaluate_changes(now)
    return report


def _record_applied(runtime: Runtime, account: str, event_id: str | None, object_type: str, object_id: str,
                    now: datetime) -> None:
    if event_id is not None:
        with runtime.store().session() as session:
            applied.record(session, account, event_id, object_type, object_id, now)
