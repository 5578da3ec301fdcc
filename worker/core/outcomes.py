"""Judging a firing's goal from the stored history as of its window's end (pure core).

PRODUCT.md §8. Inputs are duck-typed rows (ORM objects or mappings): the firing (`fired_at`,
`goal` {kind, grace_s, within_s, to}, `stage`, `mrr_minor`, `currency`, `renewal_date`,
`subscription_id`, `snapshot`), the contact's history rows (`at`, `observed_at`, `stage`,
`mrr_minor`, `currency`, `mrr_native`) and, for `renewal`, the target subscription's history
rows (`at`, `status`, `current_period_end`, `renewal_date`).

Decisions (docs/report.md):

- **renewal** — the target subscription is the firing's own `subscription_id` when the trigger
  had one (e.g. `cancellation_scheduled`), else the contact's subscription whose renewal date
  equalled the contact's renewal date at firing (the one that set it; ties → smallest id). The
  date to renew past is that subscription's renewal date at firing, else (a subscription set to
  cancel has none) its period end at firing. Window end = that date + grace. Success: as of the
  window end its period end lies after that date and its status is not canceled or
  incomplete_expired. A firing with no such date cannot be judged (None).
- **retention** — window end = fired_at + within; success: the contact's stage at window end is
  a stage that is not a churn stage. A contact left with no stage (its subscriptions deleted)
  is not retained.
- **expansion** — window end = fired_at + within; success: MRR at window end > MRR at firing,
  both sides valued with the same FX rates (an exchange-rate move is not an expansion).
- **conversion** — window end = fired_at + within; success: the contact was in stage `to` at
  firing or reached it by the window end (a history row after the firing — Stripe time after
  it, or observed after it — with that stage).

"As of" means the latest history row whose Stripe time `at` is at or before the window end.
MRR at firing comes from the contact's history row current at firing (same amount), else from
the firing's own columns; both MRR values are returned in minor units of the reporting currency.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from worker.core.money import FxTable, round_minor
from worker.core.snapshot import iso, parse_iso

ENDED_STATUSES = frozenset({"canceled", "incomplete_expired"})


def _get(row: Any, name: str) -> Any:
    return row.get(name) if isinstance(row, Mapping) else getattr(row, name)


@dataclass(frozen=True)
class Goal:
    """A firing's goal as stored on the firing (`{"kind", "grace_s", "within_s", "to"}`)."""

    kind: str
    grace: timedelta
    within: timedelta
    to: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Goal:
        return cls(kind=data["kind"], grace=timedelta(seconds=int(data.get("grace_s") or 0)),
                   within=timedelta(seconds=int(data.get("within_s") or 0)),
                   to=data.get("to") or ("customer" if data["kind"] == "conversion" else None))


@dataclass(frozen=True)
class Judgement:
    """The measured result of one firing."""

    goal: str
    window_end: datetime
    succeeded: bool
    mrr_at_fire_minor: int
    mrr_at_end_minor: int
    detail: dict[str, Any] = field(default_factory=dict)


def latest_as_of(rows: Iterable[Any], when: datetime) -> Any | None:
    """The latest row with `at` ≤ `when` (ties: the last written, by `id` when rows have one)."""
    best, best_key = None, None
    for index, row in enumerate(rows):
        if _get(row, "at") > when:
            continue
        key = (_get(row, "at"), _row_id(row, index))
        if best_key is None or key >= best_key:
            best, best_key = row, key
    return best


def _row_id(row: Any, index: int) -> int:
    value = row.get("id") if isinstance(row, Mapping) else getattr(row, "id", None)
    return index if value is None else value


def renewal_target(firing: Any) -> tuple[str | None, datetime | None]:
    """(subscription id, its renewal date at firing) for a renewal goal; see the module doc."""
    subscriptions = ((_get(firing, "snapshot") or {}).get("contact") or {}).get("subscriptions") or []
    dates = {s["id"]: parse_iso(s.get("renewal_date")) for s in subscriptions}
    own = _get(firing, "subscription_id")
    if own:
        return own, dates.get(own)
    renewal = _get(firing, "renewal_date")
    if renewal is None:
        return None, None
    matching = sorted(sid for sid, date in dates.items() if date == renewal)
    return (matching[0], renewal) if matching else (None, renewal)


def renewal_reference(firing: Any, subscription_rows: Iterable[Any]) -> datetime | None:
    """The date the target subscription must renew past: its renewal date, else its period end, at firing."""
    _, date = renewal_target(firing)
    if date is not None:
        return date
    at_fire = _state_at_firing(list(subscription_rows), _get(firing, "fired_at"))
    if at_fire is not None:
        return _get(at_fire, "renewal_date") or _get(at_fire, "current_period_end")
    return _get(firing, "renewal_date")


def _state_at_firing(rows: list[Any], fired_at: datetime) -> Any | None:
    """The history row current when the firing was recorded (observed by then; latest Stripe time)."""
    seen = [r for r in rows if _get(r, "observed_at") <= fired_at]
    return latest_as_of(seen, max((_get(r, "at") for r in seen), default=fired_at)) if seen else None


def window_end(goal: Goal, fired_at: datetime, renewal_reference_date: datetime | None) -> datetime | None:
    """When the goal's window ends; None for a renewal goal with no date to renew past."""
    if goal.kind == "renewal":
        return None if renewal_reference_date is None else renewal_reference_date + goal.grace
    return fired_at + goal.within


def judge(firing: Any, contact_rows: Iterable[Any], subscription_rows: Iterable[Any], *,
          now: datetime, churn_stages: frozenset[str], fx: FxTable) -> Judgement | None:
    """The firing's outcome, or None while its window has not ended (or it cannot be judged)."""
    raw_goal = _get(firing, "goal")
    if not raw_goal:
        return None
    goal = Goal.from_json(raw_goal)
    contact_rows, subscription_rows = list(contact_rows), list(subscription_rows)
    reference = renewal_reference(firing, subscription_rows) if goal.kind == "renewal" else None
    end = window_end(goal, _get(firing, "fired_at"), reference)
    if end is None or end > now:
        return None
    at_fire = _native_at_firing(firing, contact_rows)
    at_end_row = latest_as_of(contact_rows, end)
    at_end = dict(_get(at_end_row, "mrr_native") or {}) if at_end_row is not None else at_fire
    stage_at_end = _get(at_end_row, "stage") if at_end_row is not None else _get(firing, "stage")
    fire_value, end_value = fx.value(at_fire), fx.value(at_end)
    detail: dict[str, Any] = {"stage_at_end": stage_at_end}
    if goal.kind == "renewal":
        succeeded = _renewed(subscription_rows, reference, end, detail)  # type: ignore[arg-type]
        detail["subscription_id"], detail["renewal_date"] = renewal_target(firing)[0], iso(reference)
    elif goal.kind == "retention":
        succeeded = stage_at_end is not None and stage_at_end not in churn_stages
    elif goal.kind == "expansion":
        succeeded = end_value > fire_value
    else:
        succeeded = _converted(firing, contact_rows, goal.to, end)
        detail["to"] = goal.to
    return Judgement(goal.kind, end, succeeded, round_minor(fire_value), round_minor(end_value), detail)


def _native_at_firing(firing: Any, rows: list[Any]) -> dict[str, int]:
    """{currency: minor} of the contact's MRR at firing (history row if it agrees, else the firing's)."""
    row = _state_at_firing(rows, _get(firing, "fired_at"))
    amount, currency = int(_get(firing, "mrr_minor")), _get(firing, "currency")
    if row is not None and (_get(row, "mrr_minor"), _get(row, "currency")) == (amount, currency):
        return dict(_get(row, "mrr_native") or {})
    return {currency: amount} if amount else {}


def _renewed(rows: list[Any], reference: datetime, end: datetime, detail: dict[str, Any]) -> bool:
    state = latest_as_of(rows, end)
    if state is None:
        detail["reason"] = "no subscription history"
        return False
    period_end, status = _get(state, "current_period_end"), _get(state, "status")
    detail["status_at_end"], detail["period_end_at_end"] = status, iso(period_end)
    return period_end is not None and period_end > reference and status not in ENDED_STATUSES


def _converted(firing: Any, rows: list[Any], to: str | None, end: datetime) -> bool:
    if _get(firing, "stage") == to:
        return True
    fired_at = _get(firing, "fired_at")
    return any(
        _get(r, "stage") == to and _get(r, "at") <= end
        and (_get(r, "at") >= fired_at or _get(r, "observed_at") > fired_at)
        for r in rows
    )
