"""MRR movements per month, as ChartMogul defines them (pure core).

Input: a contact history — rows with `contact_id`, `at` and `mrr_native` ({currency: minor}
of the contact's *counted* subscriptions; `{}` when none remains), in any order. Each change
of a contact's MRR inside the month is one movement:

- new business: the contact's first counted subscription (it never had one before);
- reactivation: a counted subscription again after a churn;
- expansion / contraction: MRR up / down while a counted subscription remains (a 100% coupon
  bringing MRR to 0 is contraction, not churn);
- churn: no counted subscription remains (the MRR it had is lost).

A contact's **opening balance** is not a movement: the first row of a rebuilt history (cause
`opening`, the MRR a contact already had when the history window starts) and, when history
could not be rebuilt, a contact's first observed row written by the baseline evaluation
(cause `first_seen`, `observed_at` at or before `opening_until`) are reported under `opening`
in their month (`with_opening=True`), never as new business.

Both sides of every change are valued with the same rates (`fx`), so a change of exchange
rates alone is never a movement. Amounts are positive minor units of `fx.currency`, each
category summed exactly and rounded half-even once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from fractions import Fraction
from typing import Any

from worker.core.money import FxTable, round_minor

KINDS = ("new", "expansion", "contraction", "churn", "reactivation")


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """`YYYY-MM` → [first instant, first instant of the next month) in UTC."""
    year, mon = (int(part) for part in month.split("-"))
    start = datetime(year, mon, 1, tzinfo=timezone.utc)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=timezone.utc)
    return start, end


def _field(row: Any, name: str) -> Any:
    return row[name] if isinstance(row, Mapping) else getattr(row, name)


def _cause(row: Any) -> str | None:
    return row.get("cause") if isinstance(row, Mapping) else getattr(row, "cause", None)


def classify(before: Mapping[str, int], after: Mapping[str, int], ever_counted: bool,
             fx: FxTable) -> tuple[str, Fraction] | None:
    """One change of a contact's counted MRR → (kind, positive amount), or None."""
    if not before and not after:
        return None
    if not before:
        return ("reactivation" if ever_counted else "new"), fx.value(after)
    if not after:
        return "churn", fx.value(before)
    delta = fx.value(after) - fx.value(before)
    if delta > 0:
        return "expansion", delta
    if delta < 0:
        return "contraction", -delta
    return None


def _opening(row: Any, first: bool, opening_until: datetime | None) -> bool:
    """Whether the row is a contact's opening balance (module docstring)."""
    cause = _cause(row) or ""
    if cause == "opening":
        return True
    if not first or opening_until is None or not cause.startswith("first_seen"):
        return False
    observed = row.get("observed_at") if isinstance(row, Mapping) else getattr(row, "observed_at", None)
    return observed is not None and observed <= opening_until


def mrr_movements(history_rows: Iterable[Any], month: str, fx: FxTable, *,
                  include_first_seen: bool = True, opening_until: datetime | None = None,
                  with_opening: bool = False) -> dict[str, int]:
    """New, expansion, contraction, churn and reactivation MRR of `month` (`YYYY-MM`); with
    `with_opening`, also the opening balances dated in it (`opening`).

    A contact's first history row (`cause` "first_seen") is what the first sync found; with
    `include_first_seen=False` it only sets the starting point and is not new business."""
    totals = movement_totals(history_rows, month, fx, include_first_seen=include_first_seen,
                             opening_until=opening_until)
    if not with_opening:
        del totals["opening"]
    return {kind: round_minor(value) for kind, value in totals.items()}


def movement_totals(history_rows: Iterable[Any], month: str, fx: FxTable, *, include_first_seen: bool = True,
                    opening_until: datetime | None = None) -> dict[str, Fraction]:
    """`mrr_movements` before rounding, opening included. Every contact counts on its own, so
    the totals of disjoint groups of contacts (a report reads history a chunk of contacts at a
    time) add up to the totals of all of them; round the sum once."""
    start, end = month_bounds(month)
    by_contact: dict[str, list[Any]] = defaultdict(list)
    for row in history_rows:
        if _field(row, "at") < end:
            by_contact[_field(row, "contact_id")].append(row)
    totals = {kind: Fraction(0) for kind in (*KINDS, "opening")}
    for rows in by_contact.values():
        rows.sort(key=lambda r: _field(r, "at"))
        before: Mapping[str, int] = {}
        ever = False
        for index, row in enumerate(rows):
            after = _field(row, "mrr_native") or {}
            found_only = not include_first_seen and _cause(row) == "first_seen"
            in_month = _field(row, "at") >= start
            if _opening(row, index == 0, opening_until):
                if in_month:
                    totals["opening"] += fx.value(after)
            elif in_month and not found_only:
                moved = classify(before, after, ever, fx)
                if moved:
                    totals[moved[0]] += moved[1]
            ever = ever or bool(after)
            before = after
    return totals


def months_between(first: str, last: str) -> list[str]:
    """Every `YYYY-MM` from `first` to `last`, inclusive."""
    year, mon = (int(p) for p in first.split("-"))
    end = tuple(int(p) for p in last.split("-"))
    found = []
    while (year, mon) <= end:
        found.append(f"{year:04d}-{mon:02d}")
        year, mon = year + (mon == 12), mon % 12 + 1
    return found
