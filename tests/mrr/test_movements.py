"""MRR movements per month (ChartMogul's definitions) from contact history rows."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from worker.core.money import FxTable
from worker.core.movements import month_bounds, months_between, mrr_movements

FX = FxTable("usd", {"eur": Decimal("1.10")})
ZERO = {"new": 0, "expansion": 0, "contraction": 0, "churn": 0, "reactivation": 0}


def row(contact: str, day: str, native: dict) -> dict:
    return {"contact_id": contact, "at": datetime.fromisoformat(day).replace(tzinfo=timezone.utc),
            "mrr_native": native}


def moves(rows, month="2026-10", fx=FX) -> dict:
    return mrr_movements(rows, month, fx)


def test_first_counted_subscription_is_new_business():
    assert moves([row("a", "2026-10-03", {"usd": 5000})]) == {**ZERO, "new": 5000}


def test_a_contact_that_was_only_in_trial_becomes_new_when_it_pays():
    rows = [row("a", "2026-09-20", {}), row("a", "2026-10-04", {"usd": 3000})]
    assert moves(rows) == {**ZERO, "new": 3000}


def test_expansion_and_contraction_are_the_changes_of_a_paying_contact():
    rows = [row("a", "2026-09-01", {"usd": 5000}), row("a", "2026-10-02", {"usd": 8000}),
            row("b", "2026-09-01", {"usd": 5000}), row("b", "2026-10-09", {"usd": 1000})]
    assert moves(rows) == {**ZERO, "expansion": 3000, "contraction": 4000}


def test_churn_only_when_no_counted_subscription_remains():
    rows = [row("a", "2026-09-01", {"usd": 5000}), row("a", "2026-10-02", {"usd": 0}),  # 100% coupon
            row("b", "2026-09-01", {"usd": 7000}), row("b", "2026-10-20", {})]
    assert moves(rows) == {**ZERO, "contraction": 5000, "churn": 7000}


def test_coming_back_after_churn_is_reactivation():
    rows = [row("a", "2026-07-01", {"usd": 5000}), row("a", "2026-08-01", {}), row("a", "2026-10-05", {"usd": 6000})]
    assert moves(rows) == {**ZERO, "reactivation": 6000}
    assert moves(rows, "2026-08") == {**ZERO, "churn": 5000}
    assert moves(rows, "2026-07") == {**ZERO, "new": 5000}


def test_fx_only_changes_are_not_movements():
    # The reporting amount moved because rates changed; the native amounts did not.
    rows = [row("a", "2026-09-01", {"eur": 1000, "usd": 1000}), row("a", "2026-10-10", {"eur": 1000, "usd": 1000})]
    assert moves(rows) == ZERO


def test_foreign_currency_movements_are_valued_with_the_given_rates():
    rows = [row("a", "2026-09-01", {"eur": 1000}), row("a", "2026-10-10", {"eur": 2000})]
    assert moves(rows) == {**ZERO, "expansion": 1100}  # 10.00 EUR * 1.10


def test_every_change_in_the_month_counts_and_rows_out_of_the_month_do_not():
    rows = [row("a", "2026-10-01", {"usd": 1000}), row("a", "2026-10-15", {"usd": 3000}),
            row("a", "2026-10-31T23:59:59", {"usd": 2500}), row("a", "2026-11-01", {})]
    assert moves(rows) == {**ZERO, "new": 1000, "expansion": 2000, "contraction": 500}


def test_rows_in_any_order_and_any_past_month():
    rows = [row("a", "2025-03-10", {"usd": 900}), row("a", "2025-01-10", {"usd": 1000})]
    assert moves(rows, "2025-03") == {**ZERO, "contraction": 100}
    assert moves(rows, "2025-02") == ZERO


def test_category_totals_are_rounded_once():
    fx = FxTable("usd", {"eur": Decimal("1.005")})
    rows = [row(c, "2026-10-02", {"eur": 100}) for c in "abcd"]  # 4 x 100.5 = 402
    assert moves(rows, fx=fx)["new"] == 402


def test_month_helpers():
    assert month_bounds("2026-12") == (datetime(2026, 12, 1, tzinfo=timezone.utc),
                                       datetime(2027, 1, 1, tzinfo=timezone.utc))
    assert months_between("2026-11", "2027-02") == ["2026-11", "2026-12", "2027-01", "2027-02"]


def test_what_the_first_sync_found_can_be_left_out_of_new_business():
    rows = [{**row("a", "2026-10-01", {"usd": 5000}), "cause": "first_seen"},
            {**row("a", "2026-10-20", {"usd": 7000}), "cause": "mrr"},
            {**row("b", "2026-10-21", {"usd": 900}), "cause": "first_seen"}]
    assert moves(rows) == {**ZERO, "new": 5900, "expansion": 2000}
    assert mrr_movements(rows, "2026-10", FX, include_first_seen=False) == {**ZERO, "expansion": 2000}
