"""`stripe-lifecycle accounts` as a real subprocess: the exact JSON shape, filters, --explain."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from tests.mrr.test_compute_adapter import customer, sub, write
from worker.logs import configure_logging
from worker.store.db import open_store

RULES = {
    "stripe.yaml": "contacts: {type: account, id_metadata_key: account_id, create_missing: true}\n"
                   "mrr: {preset: stripe, currency: usd, fx_rates: {eur: 1.08}}\n",
    "stages.yaml": "stages:\n  trial: {status: [trialing]}\n"
                   "  customer: {status: [active, incomplete, incomplete_expired, past_due, unpaid]}\n"
                   "  churn: {status: [canceled]}\nprecedence: [customer, trial, churn]\n",
}
RENEWAL = datetime(2026, 12, 1, tzinfo=timezone.utc)


@pytest.fixture
def env(tmp_path, sqlite_url):
    rules = tmp_path / "rules"
    rules.mkdir()
    for name, text in RULES.items():
        (rules / name).write_text(text)
    store = open_store(sqlite_url)
    subs = [sub("sub_a", "cus_1", "15000"), sub("sub_t", "cus_3", "9900", status="trialing"),
            sub("sub_x", "cus_x", "700")]
    for s in subs:
        s["items"]["data"][0]["current_period_end"] = int(RENEWAL.timestamp())
    write(store, [customer("cus_1", "acme-1"), customer("cus_3", "beta-2"), customer("cus_x", None)], subs)
    store.engine.dispose()
    return {"DATABASE_URL": sqlite_url, "RULES_DIR": str(rules)}


NOW_ARG = ("--now", "2026-11-15T12:00:00Z")


def accounts(cli, env, *args):
    """The real console command in a subprocess (used for the contract shape)."""
    result = cli("accounts", *args, *NOW_ARG, env=env)
    assert "Traceback" not in result.stderr
    return result


def in_process(env, *args):
    """The same command in-process (fast): typer's CliRunner with the same settings."""
    from typer.testing import CliRunner

    from worker.cli.main import app

    try:
        result = CliRunner().invoke(app, ["accounts", *args, *NOW_ARG], env={**env, "LOG_FORMAT": "json"})
    finally:
        configure_logging("json", "info")  # the runner's stderr is closed now: log to the real one
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def test_json_is_exactly_the_contract_shape(cli, env):
    result = accounts(cli, env, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data[0] == {
        "contact_id": "acme-1", "contact_type": "account", "name": "Name cus_1", "email": "cus_1@example.com",
        "stripe_customer_ids": ["cus_1"], "stripe_customers": [{"id": "cus_1", "account": "default"}],
        "stage": "customer", "mrr": {"amount_minor": 15000, "currency": "usd"},
        "renewal_date": "2026-12-01T00:00:00Z",
        "subscriptions": [{"id": "sub_a", "customer": "cus_1", "status": "active", "mrr_minor": 15000,
                           "currency": "usd", "renewal_date": "2026-12-01T00:00:00Z", "cancel_at": None,
                           "cancel_at_period_end": False, "trial_end": None}],
    }
    assert [d["contact_id"] for d in data] == ["acme-1", "beta-2"]  # the unlinked customer is left out
    assert (data[1]["stage"], data[1]["mrr"]) == ("trial", {"amount_minor": 0, "currency": "usd"})


def test_stage_filter_and_unlinked(env):
    trial = json.loads(in_process(env, "--json", "--stage", "trial").stdout)
    assert [d["contact_id"] for d in trial] == ["beta-2"]
    unlinked = json.loads(in_process(env, "--json", "--unlinked").stdout)
    assert [(d["contact_id"], d["stripe_customer_ids"], d["mrr"]["amount_minor"]) for d in unlinked] == [
        (None, ["cus_x"], 700)]


def test_table_and_explain(env):
    table = in_process(env)
    assert table.exit_code == 0 and "acme-1" in table.stdout and "150.00 USD" in table.stdout
    explained = in_process(env, "--explain", "acme-1")
    assert explained.exit_code == 0, explained.stderr
    assert "per_unit 150.00 USD × 1 = 150.00 USD" in explained.stdout
    assert "stage = customer" in explained.stdout
    unlinked = in_process(env, "--explain", "cus_x")
    assert unlinked.exit_code == 0 and "unlinked Stripe customer cus_x" in unlinked.stdout
    assert "per_unit 7.00 USD × 1 = 7.00 USD" in unlinked.stdout


def test_explaining_an_unknown_contact_is_a_plain_error(env):
    result = in_process(env, "--explain", "nobody")
    assert result.exit_code == 1
    assert "There is no contact 'nobody'" in result.stderr


def test_an_unknown_stage_is_a_usage_error_naming_the_stages(env):
    result = in_process(env, "--stage", "customers")
    assert result.exit_code == 2
    assert "'customers' is not a stage" in result.stderr and "trial, customer, churn" in result.stderr


def test_a_missing_exchange_rate_names_the_contact_and_the_others_are_still_listed(env, sqlite_url):
    store = open_store(sqlite_url)
    write(store, [customer("cus_9", "acme-1"), customer("cus_8", "beta-2")],
          [sub("sub_gbp", "cus_9", "1000", "gbp"), sub("sub_usd", "cus_8", "1000", "usd")])
    store.engine.dispose()
    result = in_process(env, "--json")
    assert result.exit_code == 1  # ran, and found a problem
    assert [entry["contact_id"] for entry in json.loads(result.stdout)] == ["beta-2"]
    assert "No exchange rate from GBP to USD for contact acme-1" in result.stderr
    assert "fx_rates" in result.stderr
