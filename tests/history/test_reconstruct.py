"""The stated rules of rebuilt history (worker.core.reconstruct, worker.core.invoice_lines)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from worker.core.invoice_lines import (
    InvoiceFacts,
    LineFact,
    invoice_facts,
    line_monthly,
)
from worker.core.money import FxTable
from worker.core.movements import mrr_movements
from worker.core.reconstruct import contact_timeline, status_changes
from worker.core.stages import StageRules
from worker.rules.model import StageDef, StagesConfig

WINDOW = datetime(2025, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 1, 1, tzinfo=UTC)
FX = FxTable("usd", {})
RULES = StageRules.compile(StagesConfig(
    stages={"trial": StageDef(status=["trialing"]), "customer": StageDef(status=["active", "past_due"]),
            "churn": StageDef(status=["canceled"])}, precedence=["customer", "trial", "churn"]))


def price(amount: int = 1000, interval: str = "month", count: int = 1) -> dict:
    return {"id": f"price_{amount}_{interval}", "object": "price", "currency": "usd", "billing_scheme": "per_unit",
            "unit_amount": amount, "unit_amount_decimal": str(amount),
            "recurring": {"interval": interval, "interval_count": count, "usage_type": "licensed"}}


def ts(day: datetime) -> int:
    return int(day.timestamp())


def line(start: datetime, amount: int, *, p: dict | None = None, qty: int = 1, discounts=(), tax: int = 0,
         proration: bool = False, key: str = "si_1", end: datetime | None = None) -> LineFact:
    p = p or price(amount)
    return LineFact("sub_1", key, p, p["id"], False, qty, amount, tuple(discounts), tax, proration, start,
                    end or start + timedelta(days=30))


def invoice(start: datetime, *lines: LineFact, status: str = "paid") -> InvoiceFacts:
    return InvoiceFacts(f"in_{ts(start)}", "sub_1", start, status, "usd", lines)


def sub(start: datetime, status: str = "active", **fields) -> dict:
    return {"id": "sub_1", "status": status, "currency": "usd", "start_date": ts(start), "created": ts(start),
            "items": {"data": [{"id": "si_1", "price": price(1000), "quantity": 1}]}, "discounts": [], **fields}


def timeline(subscription: dict, invoices: list[InvoiceFacts], preset: str = "stripe"):
    return [(p.at, p.stage, p.mrr_native, p.cause) for p in contact_timeline(
        [subscription], {"sub_1": invoices}, window_start=WINDOW, now=NOW, preset=preset, stages=RULES, fx=FX)]


def test_quarterly_weekly_and_yearly_lines_are_normalised_like_todays_mrr():
    day = datetime(2025, 3, 1, tzinfo=UTC)
    assert line_monthly(line(day, 30000, p=price(30000, "month", 3)), "stripe") == 10000
    assert line_monthly(line(day, 1200, p=price(1200, "year")), "stripe") == 100
    assert line_monthly(line(day, 1000, p=price(1000, "week")), "stripe") * 12 == 1000 * 52


def test_inclusive_taxes_are_backed_out_in_both_shapes_and_exclusive_ones_ignored():
    p = price(1200)
    current = {"id": "in_1", "created": 1, "currency": "usd", "status": "paid",
               "parent": {"type": "subscription_details", "subscription_details": {"subscription": "sub_1"}},
               "lines": {"data": [{"id": "il_1", "amount": 1200, "quantity": 1, "period": {"start": 1, "end": 2},
                                   "parent": {"type": "subscription_item_details", "subscription_item_details": {
                                       "subscription": "sub_1", "subscription_item": "si_1", "proration": False}},
                                   "pricing": {"price_details": {"price": p["id"]}},
                                   "taxes": [{"amount": 200, "tax_behavior": "inclusive"},
                                             {"amount": 99, "tax_behavior": "exclusive"}]}]}}
    older = {"id": "in_1", "created": 1, "currency": "usd", "status": "paid", "subscription": "sub_1",
             "lines": {"data": [{"id": "il_1", "amount": 1200, "quantity": 1, "period": {"start": 1, "end": 2},
                                 "type": "subscription", "subscription": "sub_1", "subscription_item": "si_1",
                                 "proration": False, "price": p,
                                 "tax_amounts": [{"amount": 200, "inclusive": True}, {"amount": 99, "inclusive": False}]}]}}
    for raw in (current, older):
        [fact] = invoice_facts(raw, {p["id"]: p}.get).lines
        assert line_monthly(fact, "stripe") == 1000


def test_discounts_count_as_the_preset_counts_coupons():
    day = datetime(2025, 3, 1, tzinfo=UTC)
    fact = line(day, 10000, discounts=[(2000, "repeating"), (1000, "forever")])
    assert line_monthly(fact, "stripe") == 9000       # only the forever coupon
    assert line_monthly(fact, "chartmogul") == 7000   # every discount in effect


def test_a_proration_counts_the_new_terms_for_a_whole_period_from_the_change():
    start, change = datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 16, tzinfo=UTC)
    seat = price(2000)
    history = timeline(sub(start), [
        invoice(start, line(start, 20000, p=seat, qty=10)),
        invoice(change, line(change, -5000, p=seat, qty=10, proration=True),
                line(change, 3000, p=seat, qty=6, proration=True, discounts=[(300, "forever")]))])
    assert history == [(start, "customer", {"usd": 20000}, "history"),
                       (change, "customer", {"usd": 10800}, "history")]  # 6 × 2,000 less its 10%


def test_a_subscription_older_than_the_window_opens_with_todays_value_until_an_invoice_tells():
    began = datetime(2024, 6, 1, tzinfo=UTC)
    renewal = datetime(2025, 6, 1, tzinfo=UTC)
    annual = price(120000, "year")
    subscription = sub(began, items={"data": [{"id": "si_1", "price": annual, "quantity": 1}]})
    history = timeline(subscription, [invoice(renewal, line(renewal, 144000, p=price(144000, "year")))])
    assert history == [(WINDOW, "customer", {"usd": 10000}, "opening"),
                       (renewal, "customer", {"usd": 12000}, "history")]
    rows = [{"contact_id": "c", "at": at, "mrr_native": native, "cause": cause} for at, _, native, cause in history]
    january = mrr_movements(rows, "2025-01", FX, with_opening=True)
    assert (january["new"], january["opening"]) == (0, 10000)


def test_not_counted_before_the_first_invoice_and_a_trial_is_a_trial():
    created = datetime(2025, 2, 1, tzinfo=UTC)
    anchor = datetime(2025, 2, 15, tzinfo=UTC)  # billing_cycle_anchor in the future: first invoice then
    history = timeline(sub(created), [invoice(anchor, line(anchor, 1000))])
    assert history == [(created, "customer", {}, "history"), (anchor, "customer", {"usd": 1000}, "history")]
    rows = [{"contact_id": "c", "at": at, "mrr_native": native} for at, _, native, _ in history]
    assert mrr_movements(rows, "2025-02", FX)["new"] == 1000  # new business when first billed
    trial_end = created + timedelta(days=14)
    trial = sub(created, trial_start=ts(created), trial_end=ts(trial_end))
    assert timeline(trial, [invoice(created, line(created, 0)), invoice(trial_end, line(trial_end, 1000))]) == [
        (created, "trial", {}, "history"), (trial_end, "customer", {"usd": 1000}, "history")]


def test_a_full_coupon_is_contraction_to_zero_not_churn():
    start, later = datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC)
    history = timeline(sub(start), [invoice(start, line(start, 1000)),
                                    invoice(later, line(later, 1000, discounts=[(1000, "forever")]))])
    assert history[-1] == (later, "customer", {"usd": 0}, "history")
    rows = [{"contact_id": "c", "at": at, "mrr_native": native} for at, _, native, _ in history]
    assert mrr_movements(rows, "2025-04", FX)["contraction"] == 1000


def test_past_due_dates_from_the_oldest_unpaid_invoice_and_canceled_from_ended_at():
    start = datetime(2025, 3, 1, tzinfo=UTC)
    months = [start + timedelta(days=31 * k) for k in range(4)]
    invoices = [invoice(m, line(m, 1000), status=s) for m, s in zip(months, ("paid", "paid", "open", "open"))]
    assert status_changes(sub(start, "past_due"), invoices) == [(start, "active"), (months[2], "past_due")]
    ended = datetime(2025, 5, 10, tzinfo=UTC)
    assert status_changes(sub(start, "canceled", ended_at=ts(ended)), invoices) == [
        (start, "active"), (ended, "canceled")]


def test_prorations_on_the_next_renewal_invoice_apply_from_the_change_without_double_counting():
    """Stripe's default: the change's proration items (no item named) ride on the next invoice."""
    start, change, renewal = (datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 16, tzinfo=UTC),
                              datetime(2025, 4, 1, tzinfo=UTC))
    basic, pro = price(1000), price(3000)
    credit = line(change, -500, p=basic, proration=True, key=f"price:{basic['id']}", end=renewal)
    charge = line(change, 1500, p=pro, proration=True, key=f"price:{pro['id']}", end=renewal)
    history = timeline(sub(start), [invoice(start, line(start, 1000, p=basic)),
                                    invoice(renewal, line(renewal, 3000, p=pro), credit, charge)])
    assert history == [(start, "customer", {"usd": 1000}, "history"),
                       (change, "customer", {"usd": 3000}, "history")]  # and still 3,000 after the renewal
