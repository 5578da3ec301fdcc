"""The history phase of a sync: paged and resumable like the backfill, quarantining what it
cannot read, reading both invoice shapes the same way, and run on demand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from stripe_sandbox import Sandbox, generate_account
from tests.sync.conftest import api_for
from worker.core.invoice_lines import (
    from_compact,
    invoice_facts,
    line_monthly,
    to_compact,
)
from worker.rules.model import (
    ContactsConfig,
    MrrConfig,
    SourceConfig,
    StageDef,
    StagesConfig,
)
from worker.store.models import ContactHistory, StripeInvoice
from worker.sync import run_sync

NOW = datetime(2026, 11, 1, tzinfo=UTC)
CONFIG = SourceConfig(contacts=ContactsConfig(), mrr=MrrConfig(fx_rates={"eur": 1.08, "gbp": 1.27, "jpy": 0.0067}))
STAGES = StagesConfig(stages={"trial": StageDef(status=["trialing"]),
                              "customer": StageDef(status=["active", "past_due", "unpaid", "incomplete"]),
                              "churn": StageDef(status=["canceled"])},
                      precedence=["customer", "trial", "churn"])


@pytest.fixture(scope="module")
def account():
    sb = Sandbox(api_key="sk_test_hist", start=NOW, seed=11)
    generate_account(sb, customers=120, seed=4, invoice_months=12)
    with sb:
        yield sb


def _sync(store, sb, **kwargs):
    return run_sync(store, api_for(sb, page_size=kwargs.pop("page_size", 100)), CONFIG, full=True, now=sb.clock.now,
                    history_months=12, stages=STAGES, **kwargs)


def _rows(store) -> list[tuple]:
    with store.session() as session:
        return [(r.contact_id, r.at, r.stage, r.mrr_native, r.cause, r.source) for r in session.scalars(
            select(ContactHistory).order_by(ContactHistory.contact_id, ContactHistory.at))]


def test_a_killed_history_read_resumes_at_the_next_page_and_ends_as_an_uninterrupted_one(account, sqlite_url, tmp_path):
    from worker.store.db import open_store

    reference = open_store(f"sqlite:///{tmp_path / 'reference.db'}")
    whole = _sync(reference, account, page_size=20)
    assert whole.invoices == len(account.store["invoice"].objects) > 200 and whole.history_rows > 0
    assert whole.quarantined == []

    store = open_store(sqlite_url)
    seen = []

    def kill_after_two_batches(phase, done, total):
        seen.append((phase, done))
        if phase == "invoices" and done >= 200:
            raise KeyboardInterrupt  # what a kill leaves: the last committed batch and its position

    with pytest.raises(KeyboardInterrupt):
        _sync(store, account, page_size=20, progress=kill_after_two_batches)
    resumed = run_sync(store, api_for(account, page_size=20), CONFIG, full=False, now=account.clock.now,
                       history_months=12, stages=STAGES)
    assert resumed.history_resumed and 0 < resumed.invoices < whole.invoices
    assert resumed.invoices + 200 == whole.invoices  # nothing read twice, nothing skipped
    assert _rows(store) == _rows(reference)
    reference.engine.dispose()
    store.engine.dispose()


def test_a_malformed_invoice_is_quarantined_and_the_rest_rebuilt(account, sqlite_store):
    some = next(iter(account.store["invoice"].objects))
    account.inject_malformed(some, emit=False, created="yesterday")
    try:
        report = _sync(sqlite_store, account)
    finally:
        account.clear_malformed(some)
    assert [(q.object_type, q.object_id) for q in report.quarantined] == [("invoice", some)]
    assert "`created` is not a Unix timestamp" in report.quarantined[0].reason
    with sqlite_store.session() as session:
        stored = set(session.scalars(select(StripeInvoice.id)))
    assert some not in stored and len(stored) == len(account.store["invoice"].objects) - 1


def test_sync_history_on_demand_replaces_rebuilt_rows_without_duplicates(account, store):
    sqlite_store = store  # SQLite and PostgreSQL
    first = _sync(sqlite_store, account)
    again = run_sync(sqlite_store, api_for(account), CONFIG, full=False, now=account.clock.now,
                     history_months=12, stages=STAGES, history=True)
    assert again.history_rows == first.history_rows and again.invoices == first.invoices
    rows = _rows(sqlite_store)
    assert len(rows) == first.history_rows and {r[5] for r in rows} == {"reconstructed"}
    later = run_sync(sqlite_store, api_for(account), CONFIG, full=False, now=account.clock.now,
                     history_months=12, stages=STAGES)
    assert later.history_months == 0  # not the first full sync, not asked: no history read


def test_both_invoice_shapes_give_the_same_facts(account):
    headers = {"Authorization": f"Bearer {account.api_key}"}
    params = {"limit": 100, "expand[]": "data.lines.data.discounts"}
    current = httpx.get(account.url + "/v1/invoices", params=params, headers=headers).json()["data"]
    older = httpx.get(account.url + "/v1/invoices", params=params,
                      headers={**headers, "Stripe-Version": "2024-06-20"}).json()["data"]
    prices = {p["id"]: p for p in account.store["price"].objects.values()}
    coupons = account.store["coupon"].objects.get
    assert "parent" in current[0] and "subscription" in older[0]
    for new, old in zip(current, older, strict=True):
        a, b = invoice_facts(new, prices.get, coupons), invoice_facts(old, prices.get, coupons)
        assert a.lines and [(l.subscription_id, l.key, l.quantity, l.amount, l.discounts, l.proration, l.start)
                            for l in a.lines] == [(l.subscription_id, l.key, l.quantity, l.amount, l.discounts,
                                                   l.proration, l.start) for l in b.lines]
        assert [line_monthly(l, "chartmogul") for l in a.lines] == [line_monthly(l, "chartmogul") for l in b.lines]
        again = from_compact(to_compact(a), prices.get)
        assert [line_monthly(l, "stripe") for l in again.lines] == [line_monthly(l, "stripe") for l in a.lines]


def test_stripes_own_invoice_fixture_is_read(account):
    import json
    from pathlib import Path

    fixture = json.loads(Path("/work/shared/stripe/openapi-fixtures.json").read_text())["resources"]["invoice"]
    price = {"id": "price_x", "recurring": {"interval": "month", "interval_count": 1}, "unit_amount": 1000,
             "unit_amount_decimal": "1000", "currency": "usd", "billing_scheme": "per_unit"}
    paid = {**fixture, "status": "paid"}
    paid["lines"]["data"][0]["pricing"] = {"type": "price_details", "unit_amount_decimal": "1000",
                                           "price_details": {"price": "price_x", "product": "prod_x"}}
    facts = invoice_facts(paid, {"price_x": price}.get)
    assert facts.subscription_id == "subscription"  # parent.subscription_details
    # the fixture's line is an invoice item (parent.type invoice_item_details) of no subscription
    assert facts.lines == () and invoice_facts(fixture, lambda _id: None).lines == ()


def test_an_account_whose_clock_is_ahead_of_ours_is_read_up_to_its_own_present(sqlite_store):
    """A test clock (or the sandbox's virtual clock) ahead of this machine: history up to it."""
    future = datetime.now(UTC).replace(microsecond=0) + timedelta(days=400)
    sb = Sandbox(api_key="sk_test_future", start=future, seed=12)
    product = sb.create_product("P")["id"]
    monthly = sb.create_price(product, "usd", unit_amount=1000)["id"]
    customer = sb.create_customer(name="Z", metadata={"account_id": "z"})["id"]
    sub = sb.create_subscription(customer, [{"price": monthly, "quantity": 1}])
    sb.advance(timedelta(days=40))
    sb.update_subscription(sub["id"], items=[{"id": sub["items"][0], "quantity": 3}])
    with sb:
        run_sync(sqlite_store, api_for(sb), CONFIG, full=True, now=datetime.now(UTC), history_months=12,
                 stages=STAGES)
    assert [(r[1], r[3]) for r in _rows(sqlite_store)] == [
        (future, {"usd": 1000}), (future + timedelta(days=40), {"usd": 3000})]
