"""Read the holdout experiments from the store: firings with outcomes, and each contact's unit
(its first firing of the automation) for the contact-level analysis (adapter).

A contact counts in the report period when its FIRST firing of the automation (ever) falls in
it: a later firing of a contact treated before the period would carry that earlier treatment
into the comparison (docs/report.md, "Unit of analysis").
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.core.experiment import Unit
from worker.store.models import Firing, Outcome


@dataclass(frozen=True)
class FiringRow:
    """One firing with its outcome (succeeded None while unmeasured)."""

    id: int
    automation: str
    contact_id: str
    arm: str
    fired_at: datetime
    goal: str | None
    window_end: datetime | None
    succeeded: bool | None
    mrr_at_fire: int | None
    mrr_at_end: int | None


def firing_rows(session: Session) -> list[FiringRow]:
    """Every firing with its outcome, in firing order (all time: the first firing decides the unit)."""
    query = (select(Firing.id, Firing.automation, Firing.contact_id, Firing.arm, Firing.fired_at, Firing.goal,
                    Outcome.window_end, Firing.window_end, Outcome.succeeded, Outcome.mrr_at_fire_minor,
                    Outcome.mrr_at_end_minor)
             .outerjoin(Outcome, Outcome.firing_id == Firing.id).order_by(Firing.id))
    return [FiringRow(fid, name, contact, arm, _utc(at), (goal or {}).get("kind"), _utc(measured_end or end),
                      None if ok is None else bool(ok), fire, end_mrr)
            for fid, name, contact, arm, at, goal, measured_end, end, ok, fire, end_mrr in session.execute(query)]


def first_rows(rows: list[FiringRow]) -> dict[tuple[str, str], FiringRow]:
    """{(automation, contact): its first firing} (earliest fired_at, then smallest id)."""
    found: dict[tuple[str, str], FiringRow] = {}
    for row in rows:
        key = (row.automation, row.contact_id)
        current = found.get(key)
        if current is None or (row.fired_at, row.id) < (current.fired_at, current.id):
            found[key] = row
    return found


def units_by_automation(rows: list[FiringRow], since: datetime | None) -> dict[str, list[Unit]]:
    """The contact-level units of each automation whose first firing is in the period."""
    found: dict[str, list[Unit]] = defaultdict(list)
    for (name, contact), row in first_rows(rows).items():
        if since is not None and row.fired_at < since:
            continue
        found[name].append(Unit(contact, row.arm, row.fired_at, row.succeeded,
                                row.mrr_at_fire or 0, row.mrr_at_end or 0))
    return found


def _utc(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; every stored time is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
