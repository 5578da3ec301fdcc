"""Revenue figures (pure core) from small history tables, expected values worked out by hand."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction

import pytest

from worker.core.money import FxTable
from worker.core.revenue import (
    mrr_now,
    revenue_retention,
    stage_counts_over_time,
    trial_conversion,
    upcoming_renewals,
)

FX = FxTable("usd", {"eur": Decimal("1.10")})
START = datetime(2025, 6, 1, tzinfo=timezone.utc)
END = datetime(2026, 6, 1, tzinfo=timezone.utc)


def row(contact: str, when: datetime, stage: str | None, native: dict[str, int], id: int = 0) -> dict:
    return {"contact_id": contact, "at": when, "stage": stage, "mrr_native": native, "id": id}


def day(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, tzinfo=timezone.utc)


COHORT = [
    # a: 100 → 150 (expansion); b: 200 → 120 (contraction); c: 50 EUR = 55 USD → churned;
    # d: started after START (not in the cohort) at 300.
    row("a", day(2025, 1, 1), "customer", {"usd": 10000}),
    row("a", day(2025, 9, 1), "customer", {"usd": 15000}),
    row("b", day(2025, 3, 1), "customer", {"usd": 20000}),
    row("b", day(2026, 2, 1), "customer", {"usd": 12000}),
    row("c", day(2025, 5, 1), "customer", {"eur": 5000}),
    row("c", day(2025, 12, 1), "churn", {}),
    row("d", day(2025, 7, 1), "customer", {"usd": 30000}),
]


def test_revenue_retention_of_the_cohort_with_mrr_at_the_start():
    result = revenue_retention(COHORT, START, END, FX)
    # start: 100 + 200 + 55 = 355.00; end: 150 + 120 + 0 = 270.00; retained: 100 + 120 + 0 = 220.00
    assert (result.start_minor, result.end_minor, result.retained_minor) == (35500, 27000, 22000)
    assert result.nrr == Fraction(270, 355)
    assert result.grr == Fraction(220, 355)


def test_revenue_retention_is_none_without_a_starting_cohort():
    assert revenue_retention([row("d", day(2025, 7, 1), "customer", {"usd": 30000})], START, END, FX) is None


def test_an_exchange_rate_alone_never_moves_retention():
    rows = [row("e", day(2025, 1, 1), "customer", {"eur": 5000}), row("e", day(2025, 8, 1), "customer", {"eur": 5000})]
    assert revenue_retention(rows, START, END, FX).nrr == 1


def test_trial_conversion_counts_moves_out_of_trial_in_the_period():
    rows = [
        row("t1", day(2025, 8, 1), "trial", {}), row("t1", day(2025, 8, 15), "customer", {"usd": 5000}),
        row("t2", day(2025, 9, 1), "trial", {}), row("t2", day(2025, 9, 15), "churn", {}),
        row("t3", day(2025, 10, 1), "trial", {}), row("t3", day(2025, 10, 15), None, {}),
        row("t4", day(2026, 5, 1), "trial", {}),  # still trialing: not counted
        row("t5", day(2025, 1, 1), "trial", {}), row("t5", day(2025, 2, 1), "customer", {"usd": 1}),  # before
    ]
    result = trial_conversion(rows, START, END, frozenset({"trial"}), frozenset({"customer"}))
    assert (result.left_trial, result.converted) == (3, 1)
    assert result.rate == pytest.approx(1 / 3)


def test_stage_counts_at_each_month_end():
    counts = stage_counts_over_time(COHORT, ["2025-05", "2025-11", "2025-12"], ["customer", "churn"])
    assert counts == [
        {"month": "2025-05", "counts": {"customer": 3, "churn": 0}},  # a, b, c
        {"month": "2025-11", "counts": {"customer": 4, "churn": 0}},  # + d
        {"month": "2025-12", "counts": {"customer": 3, "churn": 1}},  # c churned on Dec 1
    ]


def test_upcoming_renewals_by_week_with_mrr_at_stake():
    now = day(2026, 6, 3)  # a Wednesday
    states = [
        {"renewal_date": day(2026, 6, 4), "mrr_native": {"usd": 10000}},   # week of Mon Jun 1
        {"renewal_date": day(2026, 6, 7), "mrr_native": {"eur": 1000}},    # same week, 11.00 USD
        {"renewal_date": day(2026, 6, 9), "mrr_native": {"usd": 500}},     # week of Jun 8
        {"renewal_date": day(2026, 6, 2), "mrr_native": {"usd": 999}},     # in the past
        {"renewal_date": now + timedelta(days=90), "mrr_native": {"usd": 1}},  # beyond the horizon
        {"renewal_date": None, "mrr_native": {"usd": 7}},
    ]
    assert upcoming_renewals(states, now, timedelta(days=90), FX) == [
        {"week": "2026-06-01", "contacts": 2, "mrr_minor": 11100},
        {"week": "2026-06-08", "contacts": 1, "mrr_minor": 500},
    ]


def test_mrr_now_total_and_by_stage():
    states = [{"stage": "customer", "mrr_native": {"usd": 10000, "eur": 1000}},
              {"stage": "customer", "mrr_native": {"usd": 5}}, {"stage": "churn", "mrr_native": {}},
              {"stage": None, "mrr_native": {"usd": 300}}]
    assert mrr_now(states, ["trial", "customer", "churn"], FX) == (
        11405, {"trial": 0, "customer": 11105, "churn": 0})
