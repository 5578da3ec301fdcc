"""The dates time-based triggers read, kept beside each stored snapshot and indexed (adapter).

A scheduled evaluation pass used to diff every contact's stored snapshot against itself only to
find the few whose renewal, trial end or past-due age had just entered an automation's `within`.
`contact_times` holds those dates (one row per contact, trigger and date), rewritten whenever
recompute stores a snapshot, so a pass asks the index instead:

- `renewal_due`  — the contact's renewal date; enters the window of `within` w when
  `at - w` falls between the last pass and now;
- `trial_ending` — each trialing subscription's `trial_end`; the same;
- `past_due_for` — each past-due subscription's `status_since`; enters when `at + w` falls
  between the last pass and now.

A one-second margin on both ends covers the triggers' whole-second rounding; an extra contact is
harmless (occurrences already fired are filtered, and firing is unique per occurrence).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import Session

from worker.core.snapshot import ContactSnapshot
from worker.store.models import ContactTime

FORWARD = ("renewal_due", "trial_ending")
TIME_TRIGGERS = (*FORWARD, "past_due_for")
_MARGIN = timedelta(seconds=1)
_CHUNK = 500


def time_rows(snapshot: ContactSnapshot) -> set[tuple[str, datetime]]:
    """(trigger, date) for every date of this snapshot a time-based trigger reads."""
    rows: set[tuple[str, datetime]] = set()
    if snapshot.renewal_date is not None:
        rows.add(("renewal_due", snapshot.renewal_date))
    for sub in snapshot.subscriptions:
        if sub.status == "trialing" and sub.trial_end is not None:
            rows.add(("trial_ending", sub.trial_end))
        if sub.status == "past_due" and sub.status_since is not None:
            rows.add(("past_due_for", sub.status_since))
    return rows


def write_times(session: Session, snapshots: Sequence[ContactSnapshot], *, replace: bool = True) -> None:
    """Store the time rows of these snapshots (replacing what their contacts had)."""
    ids = [s.contact_id for s in snapshots if s.contact_id]
    if replace:
        for start in range(0, len(ids), _CHUNK):
            session.execute(delete(ContactTime).where(ContactTime.contact_id.in_(ids[start:start + _CHUNK])))
    rows = [{"contact_id": s.contact_id, "trigger": trigger, "at": at}
            for s in snapshots if s.contact_id for trigger, at in sorted(time_rows(s))]
    for start in range(0, len(rows), _CHUNK):
        session.execute(ContactTime.__table__.insert(), rows[start:start + _CHUNK])


def windows(automations: Iterable) -> list[tuple[str, timedelta]]:
    """Every distinct (time trigger, `within`) of the loaded automations, sorted."""
    return sorted({(a.on, a.within) for a in automations if a.on in TIME_TRIGGERS and a.within is not None})


def entering(session: Session, wanted: Sequence[tuple[str, timedelta]], since: datetime,
             until: datetime) -> set[str]:
    """Contacts with a date that entered one of these windows in (since, until]."""
    if not wanted:
        return set()
    clauses = []
    for trigger, within in wanted:
        if trigger in FORWARD:
            low, high = since + within - _MARGIN, until + within + _MARGIN
        else:
            low, high = since - within - _MARGIN, until - within + _MARGIN
        clauses.append(and_(ContactTime.trigger == trigger, ContactTime.at > low, ContactTime.at <= high))
    return set(session.scalars(select(ContactTime.contact_id).where(or_(*clauses)).distinct()))
