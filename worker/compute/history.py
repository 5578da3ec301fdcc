"""Recompute and store contact state and history; read history back for movements (adapter).

`recompute` computes the snapshots of the given (or all) contacts, and for each one whose
snapshot changed: stores it as the contact's ContactState (the "previous" side of the next
diff), appends a ContactHistory row when its stage, MRR (in the reporting or native
currencies) or renewal date changed, and a SubscriptionHistory row per subscription whose
status, period end, renewal date, cancellation or MRR changed. It returns the
(previous, new) pairs for the trigger engine; `previous` is None for a contact seen first.

`recompute_chunk` is what an evaluation pass calls, one chunk of contacts at a time: it
recomputes the contacts whose inputs may have moved (worker.compute.dirty), records on each
ContactState what its snapshot was computed from, and hands back the recomputed snapshots so
the pass need not re-read them.

History time (`at`): the caller's `at` (Stripe's event time) when given; else the latest
Stripe change time (`changed_at`) among the contact's customers and subscriptions, when that
is newer than its last history row; else `now`. History never runs backwards per contact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from worker.compute import dirty, mrr_sort, times
from worker.compute.snapshots import Computed, compute_contacts
from worker.core.money import FxTable
from worker.core.movements import mrr_movements
from worker.core.snapshot import ContactSnapshot, SubscriptionSnapshot
from worker.rules.model import SourceConfig, StagesConfig
from worker.store.db import Store
from worker.store.models import ContactHistory, ContactState, SubscriptionHistory

Pair = tuple[ContactSnapshot | None, ContactSnapshot]


def recompute(store: Store | Session, source: SourceConfig, stages: StagesConfig, *,
              contact_ids: Sequence[str] | None = None, now: datetime, at: datetime | None = None) -> list[Pair]:
    """Recompute, store what changed, return (previous, new) for every changed contact.

    Pass a Session to do it inside the caller's transaction (e.g. with the firings the
    pairs produce); a Store opens and commits its own."""
    if isinstance(store, Session):
        return _recompute(store, source, stages, contact_ids=contact_ids, now=now, at=at)
    with store.session() as session:
        return _recompute(session, source, stages, contact_ids=contact_ids, now=now, at=at)


def _recompute(session: Session, source: SourceConfig, stages: StagesConfig, *,
               contact_ids: Sequence[str] | None, now: datetime, at: datetime | None) -> list[Pair]:
    computed = compute_contacts(session, source, stages, now=now, contact_ids=contact_ids, at=at)
    pairs: list[Pair] = []
    sort = mrr_sort.Writer(FxTable.from_config(source.mrr))
    for item in computed:
        new, previous = item.snapshot, item.previous
        if not item.changed:
            continue
        _store_state(session, item.state, new, now, sort)
        _store_history(session, previous, new, item.at, now)
        pairs.append((previous, new))
    times.write_times(session, [new for _, new in pairs])
    return pairs


@dataclass
class Recomputed:
    """One chunk's recompute: the changed pairs, and the stored snapshot (as the store now
    holds it, i.e. as `ContactSnapshot.from_state` reads it back) of every contact it
    recomputed."""

    pairs: list[Pair] = field(default_factory=list)
    snapshots: dict[str, ContactSnapshot] = field(default_factory=dict)


def recompute_chunk(session: Session, source: SourceConfig, stages: StagesConfig, contact_ids: Sequence[str], *,
                    now: datetime) -> Recomputed:
    """Recompute these contacts (one chunk of an evaluation pass: worker.compute.dirty says
    which) inside the caller's transaction; store what changed and what each snapshot was
    computed from (its mirror digest, read here for these contacts only)."""
    result = Recomputed()
    if not contact_ids:
        return result
    keys = dirty.mirror_keys(session, contact_ids)
    problems: list[tuple[str, str]] = []
    computed = compute_contacts(session, source, stages, now=now, contact_ids=contact_ids, problems=problems)
    sort = mrr_sort.Writer(FxTable.from_config(source.mrr))
    for item in computed:
        stored = _store_computed(session, item, keys.get(item.snapshot.contact_id or ""), now, sort)
        result.snapshots[item.snapshot.contact_id] = stored
        if item.changed:
            result.pairs.append((item.previous, item.snapshot))
    times.write_times(session, [new for _, new in result.pairs])
    _forget_failed(session, [contact_id for contact_id, _ in problems])
    return result


def _store_computed(session: Session, item: Computed, key: str | None, now: datetime,
                    sort: mrr_sort.Writer) -> ContactSnapshot:
    """Store one recomputed contact (state and history when it changed; its digest and next
    time change always) and return its snapshot as stored."""
    if item.changed:
        state, data = _store_state(session, item.state, item.snapshot, now, sort)
        _store_history(session, item.previous, item.snapshot, item.at, now)
        stored = ContactSnapshot.from_state(data)
    else:
        state, stored = item.state, item.previous
    if state is not None:
        state.mirror_key, state.recompute_at = key, item.recompute_at
    return stored


def _forget_failed(session: Session, contact_ids: list[str]) -> None:
    """A contact that could not be computed stays dirty, so the next pass tries it again."""
    for start in range(0, len(contact_ids), 500):
        part = contact_ids[start:start + 500]
        session.execute(update(ContactState).where(ContactState.contact_id.in_(part)).values(mirror_key=None))


def _store_state(session: Session, state: ContactState | None, new: ContactSnapshot,
                 now: datetime, sort: mrr_sort.Writer) -> tuple[ContactState, dict]:
    if state is None:
        state = ContactState(contact_id=new.contact_id)
        session.add(state)
    data = new.to_state()
    state.stage, state.mrr_minor, state.currency = new.stage, new.mrr_minor, new.currency
    state.renewal_date, state.snapshot, state.computed_at = new.renewal_date, data, now
    state.mrr_sort, state.mrr_fx = sort.value(new.mrr_minor, new.currency), sort.key
    return state, data


def _contact_changes(previous: ContactSnapshot | None, new: ContactSnapshot) -> list[str]:
    if previous is None:
        return ["first_seen"]
    changes = []
    if previous.stage != new.stage:
        changes.append("stage")
    if previous.mrr_native != new.mrr_native:
        changes.append("mrr")
    elif (previous.mrr_minor, previous.currency) != (new.mrr_minor, new.currency):
        changes.append("fx")  # the same native amounts, converted differently
    if previous.renewal_date != new.renewal_date:
        changes.append("renewal_date")
    return changes


def _store_history(session: Session, previous: ContactSnapshot | None, new: ContactSnapshot, when: datetime,
                   now: datetime) -> None:
    changes = _contact_changes(previous, new)
    if changes:
        session.add(ContactHistory(
            contact_id=new.contact_id, at=when, observed_at=now, stage=new.stage, mrr_minor=new.mrr_minor,
            currency=new.currency, mrr_native=dict(new.mrr_native), renewal_date=new.renewal_date,
            cause=",".join(changes)))
    before = {s.id: s for s in previous.subscriptions} if previous else {}
    for sub in new.subscriptions:
        if _subscription_changed(before.get(sub.id), sub):
            session.add(SubscriptionHistory(
                subscription_id=sub.id, contact_id=new.contact_id, at=when, observed_at=now, status=sub.status,
                current_period_end=sub.current_period_end, renewal_date=sub.renewal_date,
                cancel_at_period_end=sub.cancel_at_period_end, cancel_at=sub.cancel_at,
                mrr_minor=sub.mrr_minor, currency=sub.currency))


def _subscription_changed(before: SubscriptionSnapshot | None, sub: SubscriptionSnapshot) -> bool:
    if before is None:
        return True
    fields = ("status", "current_period_end", "renewal_date", "cancel_at_period_end", "cancel_at",
              "mrr_minor", "currency")
    return any(getattr(before, f) != getattr(sub, f) for f in fields)


def history_rows(session: Session, *, until: datetime | None = None) -> list[ContactHistory]:
    """Every contact history row (before `until`), oldest first: the input of `mrr_movements`."""
    query = select(ContactHistory).order_by(ContactHistory.contact_id, ContactHistory.at, ContactHistory.id)
    if until is not None:
        query = query.where(ContactHistory.at < until)
    return list(session.scalars(query))


def monthly_movements(store: Store | Session, months: Sequence[str], fx: FxTable, *,
                      include_first_seen: bool = True) -> list[dict]:
    """`[{"month": "YYYY-MM", "new": …, "expansion": …, …}]` for each month, from stored history."""
    if isinstance(store, Session):
        rows = history_rows(store)
    else:
        with store.session() as session:
            rows = history_rows(session)
    return [{"month": month, **mrr_movements(rows, month, fx, include_first_seen=include_first_seen)}
            for month in months]
