"""Evaluate: recompute snapshots, turn them into trigger occurrences, match, fire (wiring).

One pass, in one transaction:
  1. recompute the contacts whose inputs may have moved since their last compute (mirror
     rows changed, a discount starting or ending, never computed; everything when the rules
     changed and at least weekly: worker.compute.dirty) — changed ones come back as
     (prev, new); a contact left alone would have recomputed to its stored snapshot;
  2. occurrences — changes for the changed contacts, time-based triggers for the contacts the
     pass looks at (an unchanged contact is diffed against itself): a scheduled pass looks at
     the recomputed and queued contacts and those whose dates entered a trigger window, and
     at everyone daily as a safety net; a changes pass at the contacts syncs and re-fetches
     queued (worker.automations.scope); from the snapshots recompute just stored and, for
     the others, the stored ones;
  3. match them against the automations (durable-rules, or the reference matcher);
  4. record each match once (worker.automations.firing) and queue destination pushes.
A dry run does all of it and rolls back, so it lists exactly what would fire.

Passes are serialised: each starts by updating one lock row, which PostgreSQL holds (and
SQLite's single writer lock holds) until commit. A second evaluator waits, then sees the
first one's snapshots and finds nothing new; "at most once" itself stays the unique key's job.

The **baseline** (PRODUCT.md §4) is the first pass after the first completed full backfill:
it records what already was and fires no change triggers. It is remembered in SyncState.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Text, cast, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from worker.automations import scope
from worker.automations.firing import Fired, Match, plan_firing, record_firings
from worker.compute import times
from worker.compute.history import recompute_pass
from worker.core.occurrences import Occurrence
from worker.core.snapshot import ContactSnapshot, iso
from worker.core.triggers import TriggerSettings, existing_state, occurrences
from worker.errors import LifecycleError
from worker.logs import get_logger
from worker.rules.model import Automation, RuleSet
from worker.store.db import Store
from worker.store.models import ContactState, Firing, SyncState

log = get_logger("evaluate")
BASELINE_KEY = "evaluation"
LOCK_KEY = "evaluation_lock"
LAST_FULL_KEY = "last_full"
SEEN_KEY = "automations_seen"  # names of the automations evaluated at least once (apply_to_existing)


class Matcher(Protocol):
    def match(self, occurrences: Sequence[Occurrence]) -> Iterable: ...


@dataclass
class Evaluation:
    fired: list[Fired] = field(default_factory=list)
    contacts: int = 0
    changed: int = 0
    occurrences: int = 0
    baseline: bool = False
    dry_run: bool = False
    destination_delivery_ids: list[int] = field(default_factory=list)

    @property
    def delivery_ids(self) -> list[int]:
        """Every delivery row this pass created, to enqueue once the transaction committed."""
        return [i for f in self.fired for i in f.delivery_ids] + self.destination_delivery_ids


def evaluate(store: Store, rules: RuleSet, matcher: Matcher, *, now: datetime,
             dry_run: bool = False, contact_ids: Sequence[str] | None = None,
             push_destinations=None, full_every: timedelta | None = None,  # noqa: ANN001
             changes_only: bool = False) -> Evaluation:
    """One evaluation pass as of `now`: a scheduled one, one over `contact_ids`, or with
    `changes_only` one over the contacts syncs and re-fetches queued (worker.automations.scope).

    `push_destinations(session, prev, new, now) -> list[delivery id]` (optional) queues the
    destination pushes a contact's change calls for, in the same transaction."""
    _ensure_lock_row(store, now)
    session = store.sessions()
    try:
        _take_lock(session, now)
        queued = scope.drain(session) if contact_ids is None else []
        if changes_only:
            if not queued:
                session.rollback()
                return Evaluation(dry_run=dry_run)
            contact_ids = queued
        result = _evaluate(session, rules, matcher, now=now, dry_run=dry_run, contact_ids=contact_ids,
                           push_destinations=push_destinations, full_every=full_every, queued=queued)
        session.rollback() if dry_run else session.commit()
        return result
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _evaluate(session: Session, rules: RuleSet, matcher: Matcher, *, now: datetime, dry_run: bool,
              contact_ids: Sequence[str] | None, push_destinations,  # noqa: ANN001
              full_every: timedelta | None = None, queued: Sequence[str] = ()) -> Evaluation:
    full_backfill_done = session.scalar(select(SyncState.key).where(  # of any Stripe account (`eu:last_full`)
        (SyncState.key == LAST_FULL_KEY) | SyncState.key.like("%:" + LAST_FULL_KEY)).limit(1)) is not None
    baseline = not _baseline_recorded(session)
    recomputed = recompute_pass(session, rules.source, rules.stages, contact_ids=contact_ids, now=now,
                                full_every=full_every)
    changed = {new.contact_id: (prev, new) for prev, new in recomputed.pairs if new.contact_id}
    looked_at = contact_ids
    if contact_ids is None:  # a scheduled pass: what changed, was queued, or entered a time window
        looked_at, _why_all = scope.scheduled_scope(
            session, rules.automations, recomputed=recomputed.snapshots.keys(), queued=queued,
            full_recompute=recomputed.plan is not None and recomputed.plan.full,
            baseline_pending=baseline, now=now,
            everyone="a new automation applies to existing state" if _fresh_existing(session, rules) else None)
    snapshots = _current(session, looked_at, recomputed.snapshots)
    if contact_ids is None:
        if looked_at is None and not scope.times_filled(session):
            times.write_times(session, list(snapshots.values()))
        scope.remember(session, rules.automations, now=now, full=looked_at is None)
    settings = TriggerSettings.from_rules(rules)
    result = Evaluation(contacts=len(snapshots), changed=len(changed), baseline=baseline, dry_run=dry_run)
    found: list[Occurrence] = []
    for contact_id, snapshot in snapshots.items():
        prev, new = changed.get(contact_id, (snapshot, snapshot))
        try:
            found += occurrences(prev, new, now, settings, baseline=baseline)
        except LifecycleError as exc:  # e.g. MissingFxRate: this contact only, the rest go on
            log.error("contact_skipped", contact_id=contact_id, error=str(exc))
            continue
        if push_destinations is not None and contact_id in changed:
            result.destination_delivery_ids += push_destinations(session, prev, new, now)
    result.occurrences = len(found)
    found = _not_yet_fired(session, found, rules.automations)
    by_name = {a.name: a for a in rules.automations}
    pairs = _matches(matcher, found)
    if contact_ids is None and full_backfill_done:
        pairs = _with_existing_state(session, pairs, rules, matcher, snapshots, now, settings, dry_run=dry_run)
    matches = [(by_name[name], occurrence, snapshots[occurrence.contact_id]) for name, occurrence in pairs]
    result.fired = _fire(session, matches, now=now, dry_run=dry_run)
    if baseline and full_backfill_done:
        _record_baseline(session, now)
    return result


def _with_existing_state(session: Session, pairs: list[tuple[str, Occurrence]], rules: RuleSet, matcher: Matcher,
                         snapshots: dict[str, ContactSnapshot], now: datetime, settings: TriggerSettings, *,
                         dry_run: bool) -> list[tuple[str, Occurrence]]:
    """`apply_to_existing`: at an automation's first evaluation,
    also match the state contacts are already in, for that automation only."""
    seen = _seen(session)
    fresh = {a.name for a in rules.automations if a.apply_to_existing and a.name not in seen}
    if fresh:
        triggers = frozenset(a.on for a in rules.automations if a.name in fresh)
        extra = [o for s in snapshots.values() for o in existing_state(s, now, settings, triggers)]
        extra = _not_yet_fired(session, extra, [a for a in rules.automations if a.name in fresh])
        taken = {(name, o.contact_id, o.key) for name, o in pairs}
        pairs = pairs + [(name, o) for name, o in _matches(matcher, extra)
                         if name in fresh and (name, o.contact_id, o.key) not in taken]
        pairs.sort(key=lambda p: (p[1].contact_id, p[0], p[1].key))
    names = {a.name for a in rules.automations}
    if not dry_run and not names <= seen:
        session.merge(SyncState(key=SEEN_KEY, value={"names": sorted(seen | names)}, updated_at=now))
    return pairs


def _seen(session: Session) -> set[str]:
    """Names of the automations evaluated at least once."""
    row = session.get(SyncState, SEEN_KEY)
    return set((row.value if row else {}).get("names") or ())


def _fresh_existing(session: Session, rules: RuleSet) -> bool:
    """An `apply_to_existing` automation not evaluated yet: its first pass looks at everyone."""
    seen = _seen(session)
    return any(a.apply_to_existing and a.name not in seen for a in rules.automations)


def _fire(session: Session, matches: list[Match], *, now: datetime, dry_run: bool) -> list[Fired]:
    if not dry_run:
        return record_firings(session, matches, now=now)
    fired = []
    for automation, occurrence, contact in matches:
        already = session.scalar(select(Firing.id).where(
            Firing.automation == automation.name, Firing.contact_id == occurrence.contact_id,
            Firing.occurrence == occurrence.key))
        if already is None:
            subscription = next((s for s in contact.subscriptions if s.id == occurrence.subscription_id), None)
            context = {"contact": contact.to_json(), "subscription": subscription.to_json() if subscription else None}
            fired.append(replace(plan_firing(automation, occurrence), context=context))
    return fired


def _not_yet_fired(session: Session, found: list[Occurrence], automations: Sequence[Automation]) -> list[Occurrence]:
    """Drop occurrences every automation on their trigger has already fired for.

    Time-based triggers re-emit the same key on every pass while due; without this each pass
    would post them all through the engine again only for the unique key to refuse them."""
    listeners: dict[str, set[str]] = {}
    for automation in automations:
        listeners.setdefault(automation.on, set()).add(automation.name)
    keys = sorted({o.key for o in found})
    fired: dict[tuple[str, str], set[str]] = {}
    for start in range(0, len(keys), 500):
        rows = session.execute(select(Firing.contact_id, Firing.occurrence, Firing.automation)
                               .where(Firing.occurrence.in_(keys[start:start + 500])))
        for contact_id, key, automation in rows:
            fired.setdefault((contact_id, key), set()).add(automation)
    return [o for o in found
            if (names := listeners.get(o.trigger)) and not names <= fired.get((o.contact_id, o.key), set())]


def _matches(matcher: Matcher, found: Sequence[Occurrence]) -> list[tuple[str, Occurrence]]:
    """(automation name, occurrence) pairs, in a stable order (contact, automation, key)."""
    pairs = []
    for match in matcher.match(found):
        name = match.automation if isinstance(match.automation, str) else match.automation.name
        pairs.append((name, match.occurrence))
    return sorted(pairs, key=lambda p: (p[1].contact_id, p[0], p[1].key))


def _current(session: Session, contact_ids: Sequence[str] | None,
             fresh: dict[str, ContactSnapshot]) -> dict[str, ContactSnapshot]:
    """Every (or these) contacts' stored snapshots, in the table's order.

    Those recompute just stored come from `fresh` (already read back from their stored form).
    For the others the stored JSON is read as text and parsed only when that text is new to
    this process: `_PARSED` maps the exact stored text to its parsed snapshot (so it can never
    be stale, whatever database it came from) and keeps only the texts the last pass saw."""
    global _PARSED
    query = select(ContactState.contact_id, cast(ContactState.snapshot, Text))
    known, seen = _PARSED, {}
    snapshots: dict[str, ContactSnapshot] = {}
    for contact_id, text in _rows(session, query, contact_ids):
        snapshot = fresh.get(contact_id)
        if snapshot is None:
            snapshot = known.get(text)
            if snapshot is None:
                snapshot = ContactSnapshot.from_state(json.loads(text))
            seen[text] = snapshot
        if snapshot.contact_id:
            snapshots[snapshot.contact_id] = snapshot
    _PARSED = seen
    return snapshots


_PARSED: dict[str, ContactSnapshot] = {}


def _rows(session: Session, query, contact_ids: Sequence[str] | set[str] | None):  # noqa: ANN001, ANN202
    """The query's rows for every contact, or for these (500 ids per statement), in id order."""
    if contact_ids is None:
        yield from session.execute(query)
        return
    ids = sorted(contact_ids)
    for start in range(0, len(ids), 500):
        yield from session.execute(query.where(ContactState.contact_id.in_(ids[start:start + 500]))
                                   .order_by(ContactState.contact_id))


def _ensure_lock_row(store: Store, now: datetime) -> None:
    try:
        with store.session() as session:
            if session.get(SyncState, LOCK_KEY) is None:
                session.add(SyncState(key=LOCK_KEY, value={}, updated_at=now))
    except IntegrityError:
        pass  # another process created it first: fine


def _take_lock(session: Session, now: datetime) -> None:
    session.execute(update(SyncState).where(SyncState.key == LOCK_KEY).values(updated_at=now))


def _baseline_recorded(session: Session) -> bool:
    row = session.get(SyncState, BASELINE_KEY)
    return row is not None and bool(row.value.get("baseline_at"))


def _record_baseline(session: Session, now: datetime) -> None:
    session.merge(SyncState(key=BASELINE_KEY, value={"baseline_at": iso(now)}, updated_at=now))
