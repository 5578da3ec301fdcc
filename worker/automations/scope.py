"""Which contacts an evaluation pass looks at: work proportional to what changed (adapter).

- **Changes**: a sync or webhook re-fetch queues the contacts it changed (`queue_contacts`,
  table `evaluation_queue`) and asks for a *changes pass*; that pass drains the queue and
  evaluates exactly those contacts. Many changes in a short window coalesce: the first pass
  to run drains everything queued so far, the passes asked for by the others find the queue
  empty and end at once.
- **Time**: a scheduled pass evaluates the contacts it recomputed (worker.compute.dirty), the
  queued ones, and those with a date that entered an automation's window since the previous
  scheduled pass, found through the indexed `contact_times` (worker.compute.times).
- **Safety net**: every contact once a day (`FULL_EVERY`), and whenever the set of time
  windows changed (a new or edited automation), recompute did a full pass, the baseline is
  not recorded yet, or the clock went backwards.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from worker.compute import times
from worker.compute.dirty import iso_us
from worker.core.snapshot import parse_iso
from worker.store.evaluation_queue import queue_contacts
from worker.store.models import EvaluationQueue, SyncState

__all__ = ["queue_contacts", "drain", "scheduled_scope", "remember", "times_filled"]

STATE_KEY = "evaluation_scope"
FULL_EVERY = timedelta(days=1)
_CHUNK = 500


def drain(session: Session) -> list[str]:
    """Take every queued contact (inside the pass's transaction: a failed pass leaves them queued)."""
    ids = sorted(session.scalars(select(EvaluationQueue.contact_id)))
    for start in range(0, len(ids), _CHUNK):
        session.execute(delete(EvaluationQueue).where(EvaluationQueue.contact_id.in_(ids[start:start + _CHUNK])))
    return ids


def scheduled_scope(session: Session, automations: Sequence[Any], *, recomputed: Iterable[str],
                    queued: Iterable[str], full_recompute: bool, baseline_pending: bool,
                    now: datetime, everyone: str | None = None) -> tuple[set[str] | None, str | None]:
    """(contact ids, None) for a scheduled pass, or (None, why) when it must look at everyone
    (`everyone`: a reason of the caller's, e.g. a new `apply_to_existing` automation)."""
    state = _state(session)
    wanted = times.windows(automations)
    last_at, last_full = parse_iso(state.get("last_at")), parse_iso(state.get("last_full_at"))
    reason = everyone
    if reason is not None:
        pass
    elif not state.get("times_filled"):
        reason = "first pass"
    elif state.get("windows") != repr(wanted):
        reason = "automations' time windows changed"
    elif full_recompute:
        reason = "full recompute"
    elif baseline_pending:
        reason = "baseline not recorded"
    elif last_at is None or last_full is None or now < last_at or now - last_full >= FULL_EVERY:
        reason = f"no full pass in the last {FULL_EVERY}"
    if reason is not None:
        return None, reason
    ids = set(recomputed) | set(queued) | times.entering(session, wanted, last_at, now)
    return ids, None


def remember(session: Session, automations: Sequence[Any], *, now: datetime, full: bool) -> None:
    """Record this scheduled pass (in its transaction): the next one reads windows from here."""
    row = session.get(SyncState, STATE_KEY)
    value = dict(row.value) if row is not None else {}
    value["last_at"] = iso_us(now)
    if full:
        value.update(last_full_at=iso_us(now), windows=repr(times.windows(automations)), times_filled=True)
    if row is None:
        session.add(SyncState(key=STATE_KEY, value=value, updated_at=now))
    else:
        row.value, row.updated_at = value, now


def times_filled(session: Session) -> bool:
    return bool(_state(session).get("times_filled"))


def _state(session: Session) -> dict[str, Any]:
    row = session.get(SyncState, STATE_KEY)
    return dict(row.value) if row is not None else {}
