"""Sync bookkeeping in SyncState rows, and the pure decision of when to reconcile (wiring).

Keys: `events_cursor` {created, seen}: where incremental sync resumes in the Events API;
`backfill` {stamp, phase, after, cursor}: an unfinished full backfill's paging progress;
`last_full` {completed_at}: the last completed full backfill/reconcile;
`last_sync` {at, mode}: the last completed scheduled sync (what `/healthz` reports).
Each key belongs to one Stripe account: `eu:events_cursor` for the account `eu`, the bare name
for `default` (worker.sync.accounts.state_key); `last_sync` is also kept bare for any account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from worker.core.snapshot import parse_iso
from worker.store.models import DEFAULT_ACCOUNT, SyncState
from worker.sync.accounts import state_key

EVENTS_HORIZON = timedelta(days=30)  # Stripe keeps events this long
HORIZON_MARGIN = timedelta(hours=1)  # reconcile a little before the horizon, not after
RECONCILE_EVERY = timedelta(days=1)

CURSOR = "events_cursor"
BACKFILL = "backfill"
LAST_FULL = "last_full"
LAST_SYNC_KEY = "last_sync"


def get_state(session: Session, key: str) -> dict[str, Any] | None:
    row = session.get(SyncState, key)
    return dict(row.value) if row is not None else None


def put_state(session: Session, key: str, value: dict[str, Any], now: datetime) -> None:
    row = session.get(SyncState, key)
    if row is None:
        session.add(SyncState(key=key, value=value, updated_at=now))
    else:
        row.value = value
        row.updated_at = now


def drop_state(session: Session, key: str) -> None:
    row = session.get(SyncState, key)
    if row is not None:
        session.delete(row)


@dataclass(frozen=True)
class SyncStatus:
    """What the store says about past syncs; the input of `needs_reconcile`."""

    cursor_created: datetime | None  # when the events were last read completely
    last_full_at: datetime | None
    backfill_in_progress: bool


def load_status(session: Session, account: str = DEFAULT_ACCOUNT) -> SyncStatus:
    """One account's sync status (its own cursor, last full sync and backfill position)."""
    cursor = get_state(session, state_key(account, CURSOR)) or {}
    last = get_state(session, state_key(account, LAST_FULL)) or {}
    created = cursor.get("read_at", cursor.get("created"))
    return SyncStatus(
        cursor_created=datetime.fromtimestamp(created, tz=UTC) if created is not None else None,
        last_full_at=parse_iso(last.get("completed_at")),
        backfill_in_progress=get_state(session, state_key(account, BACKFILL)) is not None,
    )


def needs_reconcile(status: SyncStatus, now: datetime, *, every: timedelta = RECONCILE_EVERY) -> str | None:
    """Why the next sync must be a full backfill/reconcile, or None for an incremental one."""
    if status.backfill_in_progress:
        return "an interrupted full sync resumes"
    if status.last_full_at is None or status.cursor_created is None:
        return "no full sync has completed yet"
    if now - status.cursor_created > EVENTS_HORIZON - HORIZON_MARGIN:
        return "the events cursor is older than Stripe's 30-day events horizon"
    if now - status.last_full_at >= every:
        return "the daily reconcile is due"
    return None
