"""Evaluate: recompute snapshots, turn them into trigger occurrences, match, fire (wiring).

One pass, a chunk of contacts at a time (CHUNK, in id order; each chunk committed before the
next is read, so a pass holds one chunk whatever the size of the account):
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

Passes are serialised chunk by chunk: each chunk's transaction starts by updating one lock
row, which PostgreSQL holds (and SQLite's single writer lock holds) until commit. A second
evaluator waits, then sees the first one's snapshots and finds nothing new; "at most once"
itself stays the unique key's job. A pass that fails keeps the chunks it committed; the
full-pass marks (worker.compute.dirty, worker.automations.scope) and the baseline are written
with the last chunk, so the next pass redoes the rest.

The **baseline** (PRODUCT.md §4) is the first pass after the first completed full backfill:
it records what already was and fires no change triggers. It is remembered in SyncState.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Text, cast, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from worker.automations import scope
from worker.automations.firing import Fired, Match, plan_firing, record_firings
from worker.compute import dirty, times
from worker.compute.history import recompute_chunk
from worker.compute.mirror import contact_chunks
from worker.core.occurrences import Occurrence
from worker.core.snapshot import ContactSnapshot, iso
from worker.core.triggers import TriggerSettings, existing_state, occurrences
from worker.errors import LifecycleError
from worker.logs import get_logger
from worker.rules.model import Automation, RuleSet
from worker.store import analyze
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


#: Contacts per chunk of a pass: each chunk is recomputed, matched, fired and committed before
#: the next is read, so a pass holds one chunk's snapshots whatever the size of the account.
CHUNK = 2000


def evaluate(store: Store, rules: RuleSet, matcher: Matcher, *, now: datetime,
             dry_run: bool = False, contact_ids: Sequence[str] | None = None,
             push_destinations=None, full_every: timedelta | None = None,  # noqa: ANN001
             changes_only: bool = False, chunk: int = CHUNK) -> Evaluation:
    """One evaluation pass as of `now`: a scheduled one, one over `contact_ids`, or with
    `changes_only` one over the contacts syncs and re-fetches queued (worker.automations.scope).

    `push_destinations(session, prev, new, now) -> list[delivery id]` (optional) queues the
    destination pushes a contact's change calls for, in the same transaction.

    The pass walks its contacts `chunk` at a time (in id order) and commits after each chunk,
    taking the lock again for the next; a dry run flushes instead and rolls everything back."""
    _ensure_lock_row(store, now)
    session = store.sessions()

    chunks_done = 0

    def checkpoint() -> None:
        nonlocal chunks_done
        chunks_done += 1
        if dry_run:
            session.flush()
        else:
            session.commit()
            if analyze.due(chunks_done) and analyze.analyze(session):  # the tables doubled: fresh plans
                session.commit()
            _take_lock(session, now)
        session.expunge_all()  # nothing of the chunk stays in the identity map

    try:
        _take_lock(session, now)
        queued = scope.drain(session) if contact_ids is None else []
        if changes_only:
            if not queued:
                session.rollback()
                return Evaluation(dry_run=dry_run)
            contact_ids = queued
        result = _evaluate(session, rules, matcher, now=now, dry_run=dry_run, contact_ids=contact_ids,
                           push_destinations=push_destinations, full_every=full_every, queued=queued,
                           chunk=chunk, checkpoint=checkpoint)
        session.rollback() if dry_run else session.commit()
        return result
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _evaluate(session: Session, rules: RuleSet, matcher: Matcher, *, now: datetime, dry_run: bool,
              contact_ids: Sequence[str] | None, push_destinations,  # noqa: ANN001
              full_every: timedelta | None = None, queued: Sequence[str] = (), chunk: int = CHUNK,
              checkpoint: Callable[[], None] = lambda: None) -> Evaluation:
    full_backfill_done = session.scalar(select(SyncState.key).where(  # of any Stripe account (`eu:last_full`)
        (SyncState.key == LAST_FULL_KEY) | SyncState.key.like("%:" + LAST_FULL_KEY)).limit(1)) is not None
    baseline = not _baseline_recorded(session)
    if contact_ids is not None:
        plan = dirty.targeted(contact_ids)
        looked_at: Sequence[str] | None = plan.ids
    else:  # a scheduled pass: what changed, was queued, or entered a time window
        plan = dirty.plan(session, rules.source, rules.stages, now=now, full_every=full_every, chunk=chunk,
                          queued=queued)
        looked_at, _why_all = scope.scheduled_scope(
            session, rules.automations, recomputed=plan.ids or (), queued=queued, full_recompute=plan.full,
            baseline_pending=baseline, now=now,
            everyone="a new automation applies to existing state" if _fresh_existing(session, rules) else None)
    pass_ = _Pass(rules, matcher, now=now, dry_run=dry_run, push_destinations=push_destinations,
                  existing=_fresh_existing_names(session, rules) if contact_ids is None and full_backfill_done
                  else frozenset(), baseline=baseline,
                  fill_times=contact_ids is None and looked_at is None and not scope.times_filled(session))
    to_recompute = None if plan.ids is None else set(plan.ids)
    for ids in contact_chunks(session, chunk, looked_at):
        pass_.chunk(session, ids, ids if to_recompute is None else [i for i in ids if i in to_recompute])
        checkpoint()
    if contact_ids is None:
        dirty.remember(session, rules.source, rules.stages, plan, now=now)
        scope.remember(session, rules.automations, now=now, full=looked_at is None)
        if full_backfill_done:
            _remember_seen(session, rules, dry_run=dry_run, now=now)
    if baseline and full_backfill_done:
        _record_baseline(session, now)
    return pass_.result


class _Pass:
    """What a pass does to one chunk of contacts: recompute those that need it, diff, match,
    fire; the counts and firings add up in `result`."""

    def __init__(self, rules: RuleSet, matcher: Matcher, *, now: datetime, dry_run: bool,
                 push_destinations, existing: frozenset[str], baseline: bool,  # noqa: ANN001
                 fill_times: bool) -> None:
        self.rules, self.matcher, self.now, self.dry_run = rules, matcher, now, dry_run
        self.push_destinations, self.existing, self.fill_times = push_destinations, existing, fill_times
        self.settings = TriggerSettings.from_rules(rules)
        self.by_name = {a.name: a for a in rules.automations}
        self.result = Evaluation(baseline=baseline, dry_run=dry_run)

    def chunk(self, session: Session, ids: Sequence[str], recompute_ids: Sequence[str]) -> None:
        rules, now, result = self.rules, self.now, self.result
        recomputed = recompute_chunk(session, rules.source, rules.stages, recompute_ids, now=now)
        changed = {new.contact_id: (prev, new) for prev, new in recomputed.pairs if new.contact_id}
        snapshots = _current(session, ids, recomputed.snapshots)
        if self.fill_times:
            times.write_times(session, list(snapshots.values()))
        result.contacts += len(snapshots)
        result.changed += len(changed)
        found: list[Occurrence] = []
        for contact_id, snapshot in snapshots.items():
            prev, new = changed.get(contact_id, (snapshot, snapshot))
            try:
                found += occurrences(prev, new, now, self.settings, baseline=result.baseline)
            except LifecycleError as exc:  # e.g. MissingFxRate: this contact only, the rest go on
                log.error("contact_skipped", contact_id=contact_id, error=str(exc))
                continue
            if self.push_destinations is not None and contact_id in changed:
                result.destination_delivery_ids += self.push_destinations(session, prev, new, now)
        result.occurrences += len(found)
        found = _not_yet_fired(session, found, rules.automations)
        pairs = _matches(self.matcher, found)
        if self.existing:
            pairs = _with_existing_state(session, pairs, rules, self.matcher, snapshots, now, self.settings,
                                         self.existing)
        matches = [(self.by_name[name], occurrence, snapshots[occurrence.contact_id]) for name, occurrence in pairs]
        result.fired += _fire(session, matches, now=now, dry_run=self.dry_run)


def _with_existing_state(session: Session, pairs: list[tuple[str, Occurrence]], rules: RuleSet, matcher: Matcher,
                         snapshots: dict[str, ContactSnapshot], now: datetime, settings: TriggerSettings,
                         fresh: frozenset[str]) -> list[tuple[str, Occurrence]]:
    """`apply_to_existing`: at an automation's first evaluation (`fresh`: those not evaluated
    yet), also match the state this chunk's contacts are already in, for that automation only."""
    triggers = frozenset(a.on for a in rules.automations if a.name in fresh)
    extra = [o for s in snapshots.values() for o in existing_state(s, now, settings, triggers)]
    extra = _not_yet_fired(session, extra, [a for a in rules.automations if a.name in fresh])
    taken = {(name, o.contact_id, o.key) for name, o in pairs}
    pairs = pairs + [(name, o) for name, o in _matches(matcher, extra)
                     if name in fresh and (name, o.contact_id, o.key) not in taken]
    pairs.sort(key=lambda p: (p[1].contact_id, p[0], p[1].key))
    return pairs


def _fresh_existing_names(session: Session, rules: RuleSet) -> frozenset[str]:
    """The `apply_to_existing` automations not evaluated yet (read once, before the pass)."""
    seen = _seen(session)
    return frozenset(a.name for a in rules.automations if a.apply_to_existing and a.name not in seen)


def _remember_seen(session: Session, rules: RuleSet, *, dry_run: bool, now: datetime) -> None:
    """Every loaded automation has now been evaluated (after the last chunk)."""
    seen, names = _seen(session), {a.name for a in rules.automations}
    if not dry_run and not names <= seen:
        session.merge(SyncState(key=SEEN_KEY, value={"names": sorted(seen | names)}, updated_at=now))


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


def _current(session: Session, contact_ids: Sequence[str],
             fresh: dict[str, ContactSnapshot]) -> dict[str, ContactSnapshot]:
    """These contacts' stored snapshots, in id order: those recompute just stored come from
    `fresh` (already read back from their stored form), the others are read and parsed.
    (A process-wide cache of parsed snapshots used to skip the parse; it held every contact.)"""
    query = select(ContactState.contact_id, cast(ContactState.snapshot, Text))
    snapshots: dict[str, ContactSnapshot] = {}
    for contact_id, text in _rows(session, query, contact_ids):
        snapshot = fresh.get(contact_id) or ContactSnapshot.from_state(json.loads(text))
        if snapshot.contact_id:
            snapshots[snapshot.contact_id] = snapshot
    return snapshots


def _rows(session: Session, query, contact_ids: Sequence[str]):  # noqa: ANN001, ANN202
    """The query's rows for these contacts (500 ids per statement), in id order."""
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
