"""Revenue figures for the report, from contact history and current states (pure core).

Inputs are duck-typed rows: history rows (`contact_id`, `at`, `stage`, `mrr_native`, optional
`id`) as `worker.core.movements` reads them, and current states (`contact_id`, `stage`,
`renewal_date`, `mrr_native`). Every amount is valued with one FX table, so an exchange-rate
move is never revenue gained or lost.

- `revenue_retention(rows, start, end, fx)`: the cohort of contacts with MRR at `start`;
  NRR = their MRR at `end` / at `start`; GRR = Σ min(end, start) / Σ start (expansion excluded,
  so GRR ≤ 100%). None when nobody had MRR at `start`.
- `trial_conversion(rows, start, end, trial_stages, customer_stages)`: of the contacts' moves
  out of a trial stage during [start, end), the share that went to a customer stage.
- `stage_counts_over_time(rows, months, stages)`: contacts per stage at the end of each month.
- `upcoming_renewals(states, now, horizon, fx)`: renewals in [now, now + horizon) by week,
  with the MRR at stake.
- `mrr_now(states, stages, fx)`: total and per-stage MRR.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from worker.core.money import FxTable, round_minor
from worker.core.movements import month_bounds


def _get(row: Any, name: str) -> Any:
    return row.get(name) if isinstance(row, Mapping) else getattr(row, name)


def _by_contact(rows: Iterable[Any]) -> dict[str, list[Any]]:
    """History rows per contact, oldest first (ties by id, i.e. write order)."""
    grouped: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        grouped[_get(row, "contact_id")].append(row)
    for items in grouped.values():
        items.sort(key=lambda r: (_get(r, "at"), _row_id(r)))
    return grouped


def _row_id(row: Any) -> int:
    value = row.get("id") if isinstance(row, Mapping) else getattr(row, "id", None)
    return value or 0


def states_at(rows: Iterable[Any], when: datetime) -> dict[str, Any]:
    """Each contact's latest history row at or before `when` (contacts with none are absent)."""
    found: dict[str, Any] = {}
    for contact_id, items in _by_contact(rows).items():
        before = [r for r in items if _get(r, "at") <= when]
        if before:
            found[contact_id] = before[-1]
    return found


@dataclass(frozen=True)
class Retention:
    """Trailing revenue retention of the cohort that had MRR at `start` (minor units)."""

    start_minor: int
    end_minor: int
    retained_minor: int
    nrr: Fraction
    grr: Fraction


def revenue_retention(rows: Sequence[Any], start: datetime, end: datetime, fx: FxTable) -> Retention | None:
    """NRR and GRR between `start` and `end` for the contacts with MRR at `start`."""
    return retention_from(retention_sums(rows, start, end, fx))


RetentionSums = tuple[Fraction, Fraction, Fraction]  # (MRR at start, at end, retained), unrounded


def retention_sums(rows: Iterable[Any], start: datetime, end: datetime, fx: FxTable) -> RetentionSums:
    """The sums behind `revenue_retention`; those of disjoint groups of contacts add up."""
    before, after = states_at(rows, start), states_at(rows, end)
    start_total = end_total = retained = Fraction(0)
    for contact_id, row in before.items():
        first = fx.value(_get(row, "mrr_native") or {})
        if first <= 0:
            continue
        later_row = after.get(contact_id)
        last = fx.value(_get(later_row, "mrr_native") or {}) if later_row is not None else Fraction(0)
        start_total, end_total, retained = start_total + first, end_total + last, retained + min(first, last)
    return start_total, end_total, retained


def retention_from(sums: RetentionSums) -> Retention | None:
    start_total, end_total, retained = sums
    if start_total <= 0:
        return None
    return Retention(round_minor(start_total), round_minor(end_total), round_minor(retained),
                     end_total / start_total, retained / start_total)


@dataclass(frozen=True)
class TrialConversion:
    left_trial: int
    converted: int

    @property
    def rate(self) -> float | None:
        return self.converted / self.left_trial if self.left_trial else None


def trial_conversion(rows: Iterable[Any], start: datetime, end: datetime, trial_stages: frozenset[str],
                     customer_stages: frozenset[str]) -> TrialConversion:
    """Moves out of a trial stage in [start, end): how many, and how many went to a customer stage."""
    left = converted = 0
    for items in _by_contact(rows).values():
        previous = None
        for row in items:
            stage = _get(row, "stage")
            if previous in trial_stages and stage != previous and start <= _get(row, "at") < end:
                left += 1
                converted += stage in customer_stages
            previous = stage
    return TrialConversion(left, converted)


def stage_counts_over_time(rows: Sequence[Any], months: Sequence[str],
                           stages: Sequence[str]) -> list[dict[str, Any]]:
    """`[{"month": "YYYY-MM", "counts": {stage: n}}]`: contacts per stage at each month's end."""
    result = []
    for month in months:
        _, month_end = month_bounds(month)
        counts = dict.fromkeys(stages, 0)
        for row in states_at(rows, month_end - timedelta(microseconds=1)).values():
            stage = _get(row, "stage")
            if stage in counts:
                counts[stage] += 1
        result.append({"month": month, "counts": counts})
    return result


def upcoming_renewals(states: Iterable[Any], now: datetime, horizon: timedelta,
                      fx: FxTable) -> list[dict[str, Any]]:
    """`[{"week": date of its Monday, "contacts": n, "mrr_minor": at stake}]` for renewals ahead."""
    return renewals_from(renewal_weeks(states, now, horizon, fx))


RenewalWeeks = dict[Any, tuple[int, Fraction]]  # Monday → (contacts, MRR at stake, unrounded)


def renewal_weeks(states: Iterable[Any], now: datetime, horizon: timedelta, fx: FxTable,
                  into: RenewalWeeks | None = None) -> RenewalWeeks:
    """The sums behind `upcoming_renewals`, added `into` a previous chunk's when given."""
    weeks: RenewalWeeks = into if into is not None else {}
    for state in states:
        renewal = _get(state, "renewal_date")
        if renewal is None or not now <= renewal < now + horizon:
            continue
        monday = (renewal - timedelta(days=renewal.weekday())).date()
        count, value = weeks.get(monday, (0, Fraction(0)))
        weeks[monday] = (count + 1, value + fx.value(_get(state, "mrr_native") or {}))
    return weeks


def renewals_from(weeks: RenewalWeeks) -> list[dict[str, Any]]:
    return [{"week": week.isoformat(), "contacts": count, "mrr_minor": round_minor(value)}
            for week, (count, value) in sorted(weeks.items())]


def mrr_now(states: Iterable[Any], stages: Sequence[str], fx: FxTable) -> tuple[int, dict[str, int]]:
    """(total MRR, MRR per stage) of the current states, in minor units of `fx.currency`."""
    total, per_stage = mrr_sums(states, stages, fx)
    return round_minor(total), {stage: round_minor(value) for stage, value in per_stage.items()}


def mrr_sums(states: Iterable[Any], stages: Sequence[str], fx: FxTable,
             into: tuple[Fraction, dict[str, Fraction]] | None = None) -> tuple[Fraction, dict[str, Fraction]]:
    """The sums behind `mrr_now` (unrounded), added `into` a previous chunk's when given."""
    total, per_stage = into if into is not None else (Fraction(0), {stage: Fraction(0) for stage in stages})
    for state in states:
        value = fx.value(_get(state, "mrr_native") or {})
        total += value
        if _get(state, "stage") in per_stage:
            per_stage[_get(state, "stage")] += value
    return total, per_stage
