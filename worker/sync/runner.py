"""Sync entry points (wiring): `run_sync` for the scheduler and CLI, `refetch` for webhooks.

    report = run_sync(store, api, source_config, full=False, now=now,
                      progress=None, on_changed=lambda contact_ids, at: ...)
    refetch(store, api, "subscription", "sub_123", now, on_changed=..., source_config=cfg)

`api` is a `worker.stripe_api.transport.StripeApi` (rate-limited, retrying). A sync is full
(backfill/reconcile) when asked, when none has completed yet, when an interrupted one must
resume, when the events cursor is older than Stripe's 30-day horizon, or when the daily
reconcile is due (`needs_reconcile`); otherwise incremental from the Events API. A full sync is
followed by an incremental pass, which re-reads what changed while the backfill paged.

Only one `run_sync` per Stripe account runs at a time (accounts sync in parallel): a second one
of the same account raises `SyncBusy` at once.

`on_changed(contact_ids, at)` is called after each committed batch with the ids of the
contacts whose customers or subscriptions changed; `at` is Stripe's event time for changes
read from events (and webhooks), None for changes found by a backfill/reconcile.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from worker.compute.mirror import mirror_currencies
from worker.core.money import FxTable, missing_rates
from worker.logs import get_logger
from worker.rules.model import SourceConfig, StagesConfig
from worker.store import models
from worker.store.db import Store
from worker.store.models import DEFAULT_ACCOUNT
from worker.stripe_api.transport import StripeApi
from worker.sync.backfill import run_backfill
from worker.sync.history import history_pending, run_history
from worker.sync.incremental import apply_change, run_incremental
from worker.sync.lock import SyncBusy, sync_lock  # noqa: F401  (SyncBusy: re-exported)
from worker.sync.run import OnChanged, Progress, SyncReport, SyncRun, make_source
from worker.sync.state import RECONCILE_EVERY, load_status, needs_reconcile

log = get_logger(__name__)
OBJECT_TYPES = ("customer", "subscription", "price", "product")


def run_sync(store: Store, stripe: StripeApi, source_config: SourceConfig, *, full: bool, now: datetime,
             progress: Progress | None = None, on_changed: OnChanged | None = None,
             reconcile_every: timedelta = RECONCILE_EVERY, history_months: int = 0,
             stages: StagesConfig | None = None, history: bool = False,
             account: str = DEFAULT_ACCOUNT) -> SyncReport:
    """One sync now: full backfill/reconcile or incremental; returns counts and quarantined objects.

    With `history_months` > 0, the first full backfill (and any sync with `history=True`) is
    followed by rebuilding `history_months` months of history from the invoices
    (worker.sync.history; `stages` are the stage rules it stages contacts with); an
    interrupted rebuild resumes at the next sync."""
    run = SyncRun(store=store, source=make_source(stripe, store, now, probe_again=full, account=account),
                  config=source_config, now=now, on_changed=on_changed, progress=progress, account=account)
    requests_before, retries_before = stripe.requests, stripe.retries
    with sync_lock(store, account):
        with store.session() as session:
            status = load_status(session, account)
            reason = needs_reconcile(status, now, every=reconcile_every)
        first = status.last_full_at is None
        if full or reason:
            run.report.mode = "full"
            run.report.reason = reason or "asked for a full sync"
            run_backfill(run)
        run_incremental(run)
        if history_months > 0 and (history or first or history_pending(run)):
            run_history(run, history_months, stages or StagesConfig())
    run.report.missing_fx_rates = missing_fx_rates(store, source_config)
    run.report.requests = stripe.requests - requests_before
    run.report.retries = stripe.retries - retries_before
    log.info("sync_done", **{k: v for k, v in run.report.to_json().items() if k != "quarantined"},
             quarantined=len(run.report.quarantined))
    return run.report


def missing_fx_rates(store: Store, source_config: SourceConfig) -> list[str]:
    """Currencies of stored subscriptions without a rate in stripe.yaml (upper case), so a sync
    names them before `accounts` or `evaluate` meets them; logged as a warning."""
    with store.session() as session:
        missing = missing_rates(mirror_currencies(session), FxTable.from_config(source_config.mrr))
    if missing:
        log.warning("fx_rates_missing", currencies=missing)
    return missing


def refetch(store: Store, stripe: StripeApi, object_type: str, object_id: str, now: datetime,
            on_changed: OnChanged | None = None, *, source_config: SourceConfig | None = None,
            at: datetime | None = None, account: str = DEFAULT_ACCOUNT) -> SyncReport:
    """Re-read one object of `account` (a webhook said it changed) and store it; `at` = the event's time."""
    if object_type not in OBJECT_TYPES:
        raise ValueError(f"cannot re-fetch a {object_type!r}; expected one of {', '.join(OBJECT_TYPES)}")
    run = SyncRun(store=store, source=make_source(stripe, store, now, account=account),
                  config=source_config or SourceConfig(), now=now, on_changed=on_changed, account=account)
    apply_change(run, object_type, object_id, at=at)
    return run.report


_MODELS = {"customer": "StripeCustomer", "subscription": "StripeSubscription", "price": "StripePrice",
           "product": "StripeProduct"}


def read_since(store: Store, object_type: str, object_id: str, when: datetime,
               account: str = DEFAULT_ACCOUNT) -> bool:
    """Whether a sync that started at or after `when` already read this object: a webhook
    received at `when` then needs no re-fetch of its own (a burst of events for one object
    is one request, not one per event)."""
    model = getattr(models, _MODELS[object_type])
    with store.session() as session:
        synced_at = session.scalar(select(model.synced_at).where(model.account == account, model.id == object_id))
    return synced_at is not None and synced_at >= when
