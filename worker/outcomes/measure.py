"""Measure: write an Outcome for every firing whose goal window has ended (adapter/wiring).

`measure(store, rules, *, now)` reads the firings whose goal window has ended by `now` (the
`window_end` stored at firing, indexed) and that have no Outcome yet — a firing still inside
its window, or one that can never be judged (window_end None), is not even loaded — then
their contacts' history (and, for renewal goals, the target subscription's) up to the latest
of their window ends (plus what was observed by firing), lets the pure
core judge each one as of its window's end (`worker.core.outcomes.judge`), and inserts the
Outcome rows. Treated and holdout firings are measured alike. Inserts are
`ON CONFLICT DO NOTHING`, so two measurers running at once never fail or double-count.
It returns how many outcomes it wrote. A firing without a goal is never measured.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from worker.core.money import FxTable
from worker.core.outcomes import Judgement, judge, renewal_target
from worker.rules.model import RuleSet
from worker.store.db import Store
from worker.store.models import ContactHistory, Firing, Outcome, SubscriptionHistory

_CHUNK = 500


def churn_stages(rules: RuleSet) -> frozenset[str]:
    """Stages whose statuses include `canceled` (as the triggers read churn); `churn` if none do."""
    found = frozenset(name for name, stage in rules.stages.stages.items() if "canceled" in stage.status)
    return found or frozenset({"churn"})


def measure(store: Store | Session, rules: RuleSet, *, now: datetime) -> int:
    """Judge every unmeasured firing whose window has ended as of `now`; return the outcomes written."""
    if isinstance(store, Session):
        return _measure(store, rules, now)
    with store.session() as session:
        return _measure(session, rules, now)


def _measure(session: Session, rules: RuleSet, now: datetime) -> int:
    fx, churn = FxTable.from_config(rules.source.mrr), churn_stages(rules)
    written = 0
    for chunk in _unmeasured(session, now):
        judged: list[tuple[int, Judgement]] = []
        bound = _Bound(max(f.window_end for f in chunk), max(f.fired_at for f in chunk))
        contact_rows = _contact_history(session, {f.contact_id for f in chunk}, bound)
        targets = {f.id: renewal_target(f)[0] for f in chunk if f.goal.get("kind") == "renewal"}
        subscription_rows = _subscription_history(session, {t for t in targets.values() if t}, bound)
        for firing in chunk:
            target = targets.get(firing.id)
            result = judge(firing, contact_rows.get(firing.contact_id, []),
                           subscription_rows.get(target, []) if target else [],
                           now=now, churn_stages=churn, fx=fx)
            if result is not None and result.window_end > bound.end:  # not the stored end: read all
                result = judge(firing, _contact_history(session, {firing.contact_id}).get(firing.contact_id, []),
                               _subscription_history(session, {target}).get(target, []) if target else [],
                               now=now, churn_stages=churn, fx=fx)
            if result is not None:
                judged.append((firing.id, result))
        written += _insert_outcomes(session, judged, fx.currency, now)
    return written


@dataclass(frozen=True)
class _Bound:
    """The history a chunk of firings can need: Stripe time up to the latest window end, or
    observed by the latest firing (`judge` reads nothing else)."""

    end: datetime
    fired_at: datetime


def _unmeasured(session: Session, now: datetime) -> Iterator[list[Any]]:
    """Firings due for measurement: window ended, no outcome yet (window_end is None for a
    firing without a goal or one that can never be judged, so those are never read); _CHUNK at
    a time by id (keyset), so a backlog of firings is never held at once."""
    after = 0
    while True:
        query = (
            select(Firing)
            .outerjoin(Outcome, Outcome.firing_id == Firing.id)
            .where(Firing.window_end <= now, Outcome.firing_id.is_(None), Firing.fired_at <= now, Firing.id > after)
            .order_by(Firing.id).limit(_CHUNK)
        )
        found = list(session.scalars(query))
        if not found:
            return
        after = found[-1].id
        chunk = [f for f in found if f.goal]
        if chunk:
            yield chunk


def _contact_history(session: Session, contact_ids: set[str],
                     bound: _Bound | None = None) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = defaultdict(list)
    if contact_ids:
        query = _plain(ContactHistory).where(ContactHistory.contact_id.in_(sorted(contact_ids)))
        if bound is not None:
            query = query.where(or_(ContactHistory.at <= bound.end, ContactHistory.observed_at <= bound.fired_at))
        for row in session.execute(query.order_by(ContactHistory.at, ContactHistory.id)):
            found[row.contact_id].append(row)
    return found


def _subscription_history(session: Session, ids: set[str],
                          bound: _Bound | None = None) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = defaultdict(list)
    if ids:
        query = _plain(SubscriptionHistory).where(SubscriptionHistory.subscription_id.in_(sorted(ids)))
        if bound is not None:
            query = query.where(or_(SubscriptionHistory.at <= bound.end,
                                    SubscriptionHistory.observed_at <= bound.fired_at))
        for row in session.execute(query.order_by(SubscriptionHistory.at, SubscriptionHistory.id)):
            found[row.subscription_id].append(row)
    return found


def _plain(model: type) -> Any:
    """SELECT every column of `model` as plain rows (attribute access, no ORM objects): history
    is read in bulk on every pass and only read."""
    return select(*model.__table__.columns)


def _insert_outcomes(session: Session, judged: list[tuple[int, Judgement]], currency: str,
                     now: datetime) -> int:
    """Store a chunk's outcomes in one statement; one already stored (a concurrent measure) is
    kept. Returns how many were new."""
    if not judged:
        return 0
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    table = Outcome.__table__
    statement = insert(table).on_conflict_do_nothing(index_elements=["firing_id"]).returning(table.c.firing_id)
    return len(session.execute(statement, [{
        "firing_id": firing_id, "goal": result.goal, "window_end": result.window_end, "measured_at": now,
        "succeeded": result.succeeded, "mrr_at_fire_minor": result.mrr_at_fire_minor,
        "mrr_at_end_minor": result.mrr_at_end_minor, "currency": currency, "detail": result.detail,
    } for firing_id, result in judged]).all())
