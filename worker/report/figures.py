"""The report's revenue figures, read a chunk of contacts at a time (adapter over the pure core).

The report used to load every contact's state and every history row, then regroup all of the
history for each month (a third of its time, and memory growing with the account and with the
install's age). Every figure is a sum over contacts, so it is computed per chunk of contacts
(keyset on the contact id: each chunk holds its contacts' whole history, in order) and the
unrounded sums added up (`worker.core.movements.movement_totals`, `worker.core.revenue.*_sums`);
amounts are rounded once at the end, so the figures equal those of one pass over everything.
States are read from narrow columns (the MRR per currency by JSON path, not the whole snapshot).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.core.money import FxTable, MissingFxRate, round_minor
from worker.core.movements import KINDS, movement_totals
from worker.core.revenue import (
    Retention,
    RetentionSums,
    TrialConversion,
    mrr_sums,
    renewal_weeks,
    renewals_from,
    retention_from,
    retention_sums,
    stage_counts_over_time,
    trial_conversion,
)
from worker.logs import get_logger
from worker.store.models import ContactHistory, ContactState

log = get_logger("report")
CHUNK = 2000  # contacts per chunk
TRAILING = timedelta(days=365)  # NRR/GRR and trial conversion over the trailing twelve months
RENEWAL_HORIZON = timedelta(days=90)  # renewals ahead, by week


@dataclass
class Figures:
    mrr_total: int
    mrr_by_stage: dict[str, int]
    stages: dict[str, int]
    renewals: list[dict[str, Any]]
    movements: list[dict[str, Any]]
    opening: dict[str, int]
    retention: Retention | None
    trial_conversion: TrialConversion
    stage_history: list[dict[str, Any]]


def revenue_figures(session: Session, *, now: datetime, months: Sequence[str], stage_names: Sequence[str],
                    fx: FxTable, baseline_at: datetime | None, trial: frozenset[str], customer: frozenset[str],
                    chunk: int = CHUNK) -> Figures:
    """Every revenue figure of the report as of `now` (history up to and including `now`)."""
    skipped: set[str] = set()
    mrr = (Fraction(0), {stage: Fraction(0) for stage in stage_names})
    weeks: dict = {}
    stages = dict.fromkeys(stage_names, 0)
    for states in _state_chunks(session, chunk):
        kept = convertible(states, fx, skipped)
        mrr = mrr_sums(kept, stage_names, fx, into=mrr)
        renewal_weeks(kept, now, RENEWAL_HORIZON, fx, into=weeks)
        for state in kept:
            if state["stage"] in stages:
                stages[state["stage"]] += 1
    totals = {month: {kind: Fraction(0) for kind in (*KINDS, "opening")} for month in months}
    retained: RetentionSums = (Fraction(0), Fraction(0), Fraction(0))
    left = converted = 0
    history = {month: dict.fromkeys(stage_names, 0) for month in months}
    for rows in _history_chunks(session, now + timedelta(microseconds=1), chunk):
        rows = convertible(rows, fx, skipped)
        for month in months:
            for kind, value in movement_totals(rows, month, fx, opening_until=baseline_at).items():
                totals[month][kind] += value
        retained = _add(retained, retention_sums(rows, now - TRAILING, now, fx))
        moved = trial_conversion(rows, now - TRAILING, now, trial, customer)
        left, converted = left + moved.left_trial, converted + moved.converted
        for entry in stage_counts_over_time(rows, months, stage_names):
            for stage, count in entry["counts"].items():
                history[entry["month"]][stage] += count
    movements, opening = [], {}
    for month in months:
        found = {kind: round_minor(value) for kind, value in totals[month].items()}
        if found.pop("opening"):
            opening[month] = round_minor(totals[month]["opening"])
        movements.append({"month": month, **found})
    return Figures(
        mrr_total=round_minor(mrr[0]), mrr_by_stage={s: round_minor(v) for s, v in mrr[1].items()}, stages=stages,
        renewals=renewals_from(weeks), movements=movements, opening=opening, retention=retention_from(retained),
        trial_conversion=TrialConversion(left, converted),
        stage_history=[{"month": month, "counts": history[month]} for month in months])


def _add(a: RetentionSums, b: RetentionSums) -> RetentionSums:
    return a[0] + b[0], a[1] + b[1], a[2] + b[2]


def convertible(items: list, fx: FxTable, skipped: set[str]) -> list:
    """The states/history rows whose MRR `fx` can convert; a contact in a currency without a
    rate is left out of every figure with one error naming it and the fix (once per report)."""
    kept = []
    for item in items:
        contact_id = item["contact_id"] if isinstance(item, dict) else item.contact_id
        native = (item["mrr_native"] if isinstance(item, dict) else item.mrr_native) or {}
        try:
            for currency in native:
                fx.rate(currency, subject=f"contact {contact_id}")
        except MissingFxRate as exc:
            if contact_id not in skipped:
                skipped.add(contact_id)
                log.error("contact_skipped", contact_id=contact_id, error=str(exc))
            continue
        if contact_id not in skipped:
            kept.append(item)
    return kept


def _state_chunks(session: Session, chunk: int) -> Iterator[list[dict[str, Any]]]:
    """Current states, `chunk` contacts at a time, as `worker.core.revenue` reads them."""
    columns = (ContactState.contact_id, ContactState.stage, ContactState.renewal_date, ContactState.currency,
               ContactState.mrr_minor, ContactState.snapshot["mrr_native"].label("mrr_native"))
    after = ""
    while True:
        rows = session.execute(select(*columns).where(ContactState.contact_id > after)
                               .order_by(ContactState.contact_id).limit(chunk)).all()
        if not rows:
            return
        after = rows[-1].contact_id
        found = []
        for row in rows:
            native = row.mrr_native
            if native is None:
                native = {row.currency: row.mrr_minor} if row.mrr_minor else {}
            found.append({"contact_id": row.contact_id, "stage": row.stage, "renewal_date": row.renewal_date,
                          "mrr_native": native})
        yield found


def _history_chunks(session: Session, until: datetime, chunk: int) -> Iterator[list[Any]]:
    """History rows before `until`, the whole history of `chunk` contacts at a time, each
    contact's oldest first (ties in write order)."""
    columns = (ContactHistory.id, ContactHistory.contact_id, ContactHistory.at, ContactHistory.stage,
               ContactHistory.mrr_native, ContactHistory.cause, ContactHistory.observed_at)
    after = ""
    while True:
        ids = list(session.scalars(select(ContactHistory.contact_id).where(ContactHistory.contact_id > after)
                                   .distinct().order_by(ContactHistory.contact_id).limit(chunk)))
        if not ids:
            return
        low, after = after, ids[-1]  # a range, not a list of ids: no bound-parameter limit
        yield list(session.execute(select(*columns).where(ContactHistory.contact_id > low,
                                                          ContactHistory.contact_id <= after,
                                                          ContactHistory.at < until)
                                   .order_by(ContactHistory.contact_id, ContactHistory.at, ContactHistory.id)))
