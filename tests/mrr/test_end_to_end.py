"""End to end: a hand-built sandbox Stripe account, synced over real HTTP by the real sync,
then `accounts --json`; every expected number is worked out here from the prices and coupons
the test itself created (not from the code under test)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from tests.mrr.test_accounts_cli import RULES
from worker.logs import configure_logging
from worker.rules.model import SourceConfig
from worker.store.db import open_store
from worker.stripe_api.transport import StripeApi
from worker.sync import run_sync

START = datetime(2026, 11, 1, tzinfo=timezone.utc)
NEXT_MONTH = "2026-12-01T00:00:00Z"


@pytest.fixture
def account():
    from stripe_sandbox import Sandbox

    sb = Sandbox(api_key="sk_test_mrr_e2e", start=START, seed=3)
    pro, seats = sb.create_product("Pro")["id"], sb.create_product("Seats")["id"]
    monthly = sb.create_price(pro, "usd", unit_amount=5000, lookup_key="pro-monthly")["id"]
    quarterly = sb.create_price(pro, "usd", interval="month", interval_count=3, unit_amount=30000)["id"]
    yearly_eur = sb.create_price(pro, "eur", interval="year", unit_amount=120000)["id"]
    graduated = sb.create_price(seats, "usd", tiers_mode="graduated",
                                tiers=[{"up_to": 5, "unit_amount": 1000},
                                       {"up_to": None, "unit_amount": 800, "flat_amount": 500}])["id"]
    yen = sb.create_price(pro, "jpy", unit_amount=3000)["id"]
    ten_forever = sb.create_coupon(percent_off=10, duration="forever")["id"]
    half_repeating = sb.create_coupon(percent_off=50, duration="repeating", duration_in_months=3)["id"]

    def customer(account_id=None):
        return sb.create_customer(name=f"Customer {account_id}",
                                  metadata={"account_id": account_id} if account_id else {})["id"]

    acme, acme_eu = customer("acme"), customer("acme")
    sb.create_subscription(acme, [{"price": monthly, "quantity": 2}], coupon=ten_forever)
    sb.create_subscription(acme, [{"price": graduated, "quantity": 7}])
    sb.create_subscription(acme_eu, [{"price": yearly_eur, "quantity": 1}])
    beta = sb.create_subscription(customer("beta"), [{"price": quarterly, "quantity": 1}], coupon=half_repeating)
    sb.beta_subscription = beta["id"]
    sb.create_subscription(customer("gamma"), [{"price": monthly, "quantity": 1}],
                           trial_end=START + timedelta(days=14))
    gone = sb.create_subscription(customer("delta"), [{"price": yen, "quantity": 1}])
    sb.create_subscription(customer("eps"), [{"price": monthly, "quantity": 1}], cancel_at_period_end=True)
    sb.create_subscription(customer(None), [{"price": monthly, "quantity": 3}])
    sb.advance(timedelta(days=2))
    sb.cancel_subscription(gone["id"])
    with sb:
        yield sb


def sync(account, url: str, *, full: bool) -> None:
    store = open_store(url)
    try:
        api = StripeApi.connect(account.api_key, account.url, max_rps=1000)
        report = run_sync(store, api, SourceConfig(), full=full, now=account.clock.now)
        assert report.quarantined == []
    finally:
        store.engine.dispose()


def test_synced_sandbox_account_matches_the_independently_computed_numbers(account, tmp_path):
    from typer.testing import CliRunner

    from worker.cli.main import app

    url = f"sqlite:///{tmp_path / 'e2e.db'}"
    sync(account, url, full=True)
    rules = tmp_path / "rules"
    rules.mkdir()
    for name, text in RULES.items():
        (rules / name).write_text(text)
    now = account.clock.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        result = CliRunner().invoke(app, ["accounts", "--json", "--now", now],
                                    env={"DATABASE_URL": url, "RULES_DIR": str(rules), "LOG_FORMAT": "json"})
    finally:
        configure_logging("json", "info")  # the runner's stderr is closed now: log to the real one
    assert result.exit_code == 0, result.output
    found = {c["contact_id"]: c for c in json.loads(result.stdout)}
    assert sorted(found) == ["acme", "beta", "delta", "eps", "gamma"]  # the unlinked customer is left out

    def summary(contact_id):
        c = found[contact_id]
        return c["stage"], c["mrr"], c["renewal_date"], len(c["stripe_customer_ids"])

    # acme: 2 x 50.00 - 10% = 90.00; graduated 7 seats = 5 x 10.00 + (2 x 8.00 + 5.00) = 71.00;
    # 1,200.00 EUR a year = 100.00 EUR a month x 1.08 = 108.00 USD → 269.00 USD (two currencies)
    assert summary("acme") == ("customer", {"amount_minor": 26900, "currency": "usd"}, NEXT_MONTH, 2)
    # beta: 300.00 a quarter = 100.00 a month; a repeating coupon does not count under preset stripe
    assert summary("beta") == ("customer", {"amount_minor": 10000, "currency": "usd"}, "2027-02-01T00:00:00Z", 1)
    # gamma: trialing counts 0 and renews when the trial ends
    assert summary("gamma") == ("trial", {"amount_minor": 0, "currency": "usd"}, "2026-11-15T00:00:00Z", 1)
    # delta: canceled (JPY, zero-decimal) → churn, 0 yen, no renewal
    assert summary("delta") == ("churn", {"amount_minor": 0, "currency": "jpy"}, None, 1)
    # eps: set to cancel at period end: still counts, but does not renew
    assert summary("eps") == ("customer", {"amount_minor": 5000, "currency": "usd"}, None, 1)
    subs = {s["status"]: s for s in found["acme"]["subscriptions"]}
    assert sorted(s["mrr_minor"] for s in found["acme"]["subscriptions"]) == [7100, 9000, 10000]
    assert subs["active"]["cancel_at_period_end"] is False


def test_a_cancellation_synced_from_events_is_history_at_the_events_time(account, tmp_path):
    from sqlalchemy import select

    from tests.mrr.test_renewal_and_stages import SEED
    from worker.compute import monthly_movements, recompute
    from worker.core.money import FxTable
    from worker.store.models import ContactHistory

    url = f"sqlite:///{tmp_path / 'history.db'}"
    sync(account, url, full=True)
    source = SourceConfig.model_validate({"mrr": {"fx_rates": {"eur": "1.08"}}})
    store = open_store(url)
    try:
        recompute(store, source, SEED, now=account.clock.now)
        account.advance(timedelta(hours=1))  # (a day would make the next sync a full reconcile)
        canceled_at = account.clock.now.replace(microsecond=0)
        account.cancel_subscription(account.beta_subscription)
        account.advance(timedelta(hours=2))
        sync(account, url, full=False)
        pairs = recompute(store, source, SEED, now=account.clock.now)
        [(before, after)] = [p for p in pairs if p[1].contact_id == "beta"]
        assert (before.stage, after.stage, after.mrr_minor) == ("customer", "churn", 0)
        with store.session() as session:
            rows = list(session.scalars(select(ContactHistory).where(ContactHistory.contact_id == "beta")
                                        .order_by(ContactHistory.id)))
        assert [r.cause for r in rows] == ["first_seen", "stage,mrr,renewal_date"]
        assert rows[-1].at == canceled_at  # Stripe's event time, not when the sync noticed
        [november] = monthly_movements(store, ["2026-11"], FxTable.from_config(source.mrr),
                                       include_first_seen=False)
        assert november["churn"] == 10000  # beta's 100.00 a month
    finally:
        store.engine.dispose()
