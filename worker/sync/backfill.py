"""Full backfill / reconcile: page through every object, resumably (wiring).

Phases run in order — products, prices (with tiers), customers, subscriptions (`status=all`) —
each page written in one transaction together with the paging position (`backfill` state), so
a killed sync resumes at the next page. Objects seen by this backfill carry its `stamp` in
`synced_at`; once every page is read, stored customers and subscriptions the listing no longer
holds become tombstones. The events cursor is taken *before* the first page, so changes made
during the backfill are read again by the next incremental sync.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from worker.core.snapshot import iso, parse_iso
from worker.store.models import StripeCustomer, StripeSubscription
from worker.stripe_api.transport import StripeApi
from worker.sync import mirror
from worker.sync.run import SyncRun
from worker.sync.state import (
    BACKFILL,
    CURSOR,
    LAST_FULL,
    drop_state,
    get_state,
    put_state,
)

PHASES = ("products", "prices", "customers", "subscriptions")
BATCH_PAGES = 5  # list pages per transaction: fewer commits, little work lost on a kill


def run_backfill(run: SyncRun) -> None:
    """Run (or resume) a full backfill to the end, then tombstone what Stripe no longer has."""
    with run.store.session() as session:
        state = get_state(session, BACKFILL)
    if state is None:
        state = {"stamp": iso_us(run.now), "phase": PHASES[0], "after": None, "cursor": _start_cursor(run)}
        with run.store.session() as session:
            put_state(session, BACKFILL, state, run.now)
    else:
        run.report.resumed = True
    stamp = parse_iso(state["stamp"])
    run.source.load_coupons()
    for phase in PHASES[PHASES.index(state["phase"]):]:
        _run_phase(run, state, phase, stamp)
        state = {**state, "phase": phase, "after": None}
    _finish(run, state, stamp)


def iso_us(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _start_cursor(run: SyncRun) -> dict:
    """Where incremental sync will start after this backfill: Stripe's newest event now."""
    return {**stripe_cursor(run.source.api), "read_at": int(run.now.timestamp())}


def stripe_cursor(api: StripeApi) -> dict:
    """An events cursor on Stripe's clock, never the worker's: the newest event's `created`
    (that event marked as read), or 0 when the account has no event yet (the next read then
    takes every event Stripe keeps). A worker clock ahead of Stripe's by more than the
    overlap would otherwise skip the events in between."""
    newest = api.get("/v1/events", {"limit": 1}).get("data") or []
    if newest and isinstance(newest[0], dict) and newest[0].get("created") is not None:
        created = int(newest[0]["created"])
        return {"created": created, "seen": {newest[0]["id"]: created}}
    return {"created": 0, "seen": {}}


def _run_phase(run: SyncRun, state: dict, phase: str, stamp: datetime) -> None:
    after = state["after"] if state["phase"] == phase else None
    done = 0
    run.tick(phase, done)
    batch: list = []
    for pages, page in enumerate(run.source.pages(phase, starting_after=after), 1):
        batch.extend(page)
        last = page[-1].get("id") if page and isinstance(page[-1], dict) else None
        after = last or after
        if pages % BATCH_PAGES == 0:
            done += _write_batch(run, state, phase, batch, after, stamp)
            run.tick(phase, done)
            batch = []
    if batch:
        done += _write_batch(run, state, phase, batch, after, stamp)
        run.tick(phase, done)


def _write_batch(run: SyncRun, state: dict, phase: str, batch: list, after: str | None,
                 stamp: datetime) -> int:
    """Write a few pages and the paging position in one transaction (a kill loses at most these)."""
    with run.store.session() as session:
        contacts = _apply(run, session, phase, batch, stamp)
        put_state(session, BACKFILL, {**state, "phase": phase, "after": after}, run.now)
    run.changed(contacts, None)
    return len(batch)


def _apply(run: SyncRun, session, phase: str, page: list, stamp: datetime) -> set[str]:
    if phase == "products":
        run.apply_products(session, page, stamp=stamp)
    elif phase == "prices":
        run.apply_prices(session, page, stamp=stamp)
    elif phase == "customers":
        return run.apply_customers(session, page, stamp=stamp, at=None).contacts
    else:
        return run.apply_subscriptions(session, page, stamp=stamp, at=None).contacts
    return set()


def _finish(run: SyncRun, state: dict, stamp: datetime) -> None:
    contacts: set[str] = set()
    with run.store.session() as session:
        for model, kind in ((StripeSubscription, "subscription"), (StripeCustomer, "customer")):
            gone = session.scalars(select(model.id).where(model.deleted.is_(False), model.synced_at < stamp))
            for object_id in list(gone):
                changed, affected = mirror.tombstone(session, kind, object_id, run.now, None)
                contacts |= affected
                run.report.deleted += int(changed)
        put_state(session, CURSOR, state["cursor"], run.now)
        put_state(session, LAST_FULL, {"completed_at": iso(run.now)}, run.now)
        drop_state(session, BACKFILL)
    run.changed(contacts, None)
