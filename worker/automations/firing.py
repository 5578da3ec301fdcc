"""Firing: record each (automation, contact, occurrence) once, before any action runs (outbox).

The unique constraint `uq_firing_once` makes "at most once, ever" a database fact: the insert
is `ON CONFLICT DO NOTHING … RETURNING`, so two evaluators racing on the same occurrence
both succeed and exactly one of them gets a row (`record_firings` does a pass's matches in a
few multi-row statements). In the same transaction the treated arm gets
one Delivery row per action; the holdout arm is matched and logged, and gets none.

Each firing stores when its goal window ends (`window_end`), computed now with the same core
functions measurement uses, from what is known at firing (the snapshot, and for a renewal
goal without a date in it the target subscription's history observed by now — rows written
later are never read for it). Measurement then reads only firings whose window has ended.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from worker.core.holdout import arm_for
from worker.core.occurrences import Occurrence
from worker.core.outcomes import Goal, renewal_reference, renewal_target, window_end
from worker.core.snapshot import ContactSnapshot
from worker.delivery.outbox import create_action_deliveries
from worker.rules.model import Automation
from worker.store.models import Firing, SubscriptionHistory


@dataclass(frozen=True)
class Fired:
    """One firing as `evaluate --json` prints it (PRODUCT.md §3)."""

    automation: str
    contact_id: str
    trigger: str
    occurrence: str
    arm: str
    firing_id: int | None = None  # None in a dry run
    delivery_ids: tuple[int, ...] = field(default=(), compare=False)  # to enqueue after commit
    #: A dry run's view of what the actions would render from: {"contact", "subscription"}.
    context: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"automation": self.automation, "contact_id": self.contact_id, "trigger": self.trigger,
                "occurrence": self.occurrence, "arm": self.arm}


def plan_firing(automation: Automation, occurrence: Occurrence) -> Fired:
    arm = arm_for(automation.name, occurrence.contact_id, automation.holdout)
    return Fired(automation.name, occurrence.contact_id, occurrence.trigger, occurrence.key, arm)


def record_firing(session: Session, automation: Automation, occurrence: Occurrence,
                  contact: ContactSnapshot, *, now: datetime) -> Fired | None:
    """Insert the firing (and its deliveries) unless it already fired; None if it had."""
    fired = record_firings(session, [(automation, occurrence, contact)], now=now)
    return fired[0] if fired else None


Match = tuple[Automation, Occurrence, ContactSnapshot]
INSERT_CHUNK = 200  # firings per INSERT statement (well under SQLite's bound-variable limit)


def record_firings(session: Session, matches: Sequence[Match], *, now: datetime) -> list[Fired]:
    """Record many matches at once, in order: one multi-row `INSERT … ON CONFLICT DO NOTHING
    RETURNING` per chunk (a statement per firing made a busy pass slow), then the treated
    arm's deliveries. Returns the firings that were new; those that had fired are left out."""
    planned = [plan_firing(automation, occurrence) for automation, occurrence, _ in matches]
    values = [_firing_values(automation, occurrence, contact, plan.arm, now)
              for (automation, occurrence, contact), plan in zip(matches, planned, strict=True)]
    for row in values:
        row["window_end"] = goal_window_end(session, row)
    inserted = _insert_new(session, values)
    fired = []
    for (automation, occurrence, _), plan in zip(matches, planned, strict=True):
        firing_id = inserted.pop((automation.name, occurrence.contact_id, occurrence.key), None)
        if firing_id is None:
            continue
        deliveries: list[int] = []
        if plan.arm == "treated":
            ref = FiringRef(firing_id, occurrence.contact_id, automation.name)
            deliveries = create_action_deliveries(session, ref, automation.actions, now)
        fired.append(Fired(**{**plan.__dict__, "firing_id": firing_id, "delivery_ids": tuple(deliveries)}))
    return fired


@dataclass(frozen=True)
class FiringRef:
    """What the outbox needs of a firing just inserted, without loading the row back."""

    id: int
    contact_id: str
    automation: str


def _insert_new(session: Session, values: list[dict[str, Any]]) -> dict[tuple[str, str, str], int]:
    """(automation, contact, occurrence) → id of each row actually inserted."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    unique = list({(v["automation"], v["contact_id"], v["occurrence"]): v for v in values}.values())
    inserted: dict[tuple[str, str, str], int] = {}
    table = Firing.__table__
    statement = (  # one cached statement, sent as multi-row batches by SQLAlchemy's insertmanyvalues
        insert(table).on_conflict_do_nothing(index_elements=["automation", "contact_id", "occurrence"])
        .returning(table.c.id, table.c.automation, table.c.contact_id, table.c.occurrence)
    )
    for start in range(0, len(unique), INSERT_CHUNK):
        for firing_id, automation, contact_id, occurrence in session.execute(
                statement, unique[start:start + INSERT_CHUNK]):
            inserted[(automation, contact_id, occurrence)] = firing_id
    return inserted


def _firing_values(automation: Automation, occurrence: Occurrence, contact: ContactSnapshot,
                   arm: str, now: datetime) -> dict[str, Any]:
    subscription = next((s for s in contact.subscriptions if s.id == occurrence.subscription_id), None)
    goal = automation.goal
    return {
        "automation": automation.name,
        "contact_id": occurrence.contact_id,
        "occurrence": occurrence.key,
        "trigger": occurrence.trigger,
        "subscription_id": occurrence.subscription_id,
        "arm": arm,
        "fired_at": now,
        "stage": contact.stage,
        "mrr_minor": contact.mrr_minor,
        "currency": contact.currency,
        "renewal_date": contact.renewal_date,
        "snapshot": {
            "contact": contact.to_json(),
            "subscription": subscription.to_json() if subscription else None,
            "occurrence": occurrence.to_json(),
        },
        "goal": None if goal is None else {
            "kind": goal.kind, "grace_s": int(goal.grace.total_seconds()),
            "within_s": int(goal.within.total_seconds()), "to": goal.to,
        },
    }


def goal_window_end(session: Session, firing: dict[str, Any]) -> datetime | None:
    """When the firing's goal window ends (see the module doc); None when it has no goal or
    can never be judged (a renewal goal with no date to renew past)."""
    if not firing.get("goal"):
        return None
    goal = Goal.from_json(firing["goal"])
    if goal.kind != "renewal":
        return window_end(goal, firing["fired_at"], None)
    target, date = renewal_target(firing)
    rows: list[dict[str, Any]] = []
    if date is None and target:
        columns = (SubscriptionHistory.id, SubscriptionHistory.at, SubscriptionHistory.observed_at,
                   SubscriptionHistory.renewal_date, SubscriptionHistory.current_period_end)
        query = select(*columns).where(SubscriptionHistory.subscription_id == target,
                                       SubscriptionHistory.observed_at <= firing["fired_at"])
        rows = [dict(r) for r in session.execute(query).mappings()]
    return window_end(goal, firing["fired_at"], renewal_reference(firing, rows))
