"""The webhook path (`refetch`), the daily reconcile, redacted quarantine, and `sync` on the CLI."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select
from typer.testing import CliRunner

from tests.sync.conftest import api_for
from worker.cli.main import app
from worker.rules.model import SourceConfig
from worker.store.db import open_store
from worker.store.models import Quarantine, StripeCustomer, StripeSubscription
from worker.sync import refetch, run_sync

CONFIG = SourceConfig()


def test_refetch_stores_the_object_as_stripe_has_it_now(sqlite_store, sandbox):
    run_sync(sqlite_store, api_for(sandbox), CONFIG, full=True, now=sandbox.clock.now)
    sub = next(s for s in sandbox.store["subscription"].objects.values() if s["status"] == "active")
    sandbox.update_subscription(sub["id"], cancel_at_period_end=True)
    event = sandbox.events("customer.subscription.updated")[-1]
    changed: list = []
    at = sandbox.clock.now
    refetch(sqlite_store, api_for(sandbox), "subscription", sub["id"], sandbox.clock.now,
            on_changed=lambda contacts, when: changed.append((contacts, when)), source_config=CONFIG, at=at)
    with sqlite_store.session() as s:
        row = s.get(StripeSubscription, ("default", sub["id"]))
        assert row.cancel_at_period_end is True and int(row.changed_at.timestamp()) == event["created"]
        contact = s.get(StripeCustomer, ("default", sub["customer"])).contact_id
    assert changed == ([({contact}, at)] if contact else [])


def test_refetch_of_a_deleted_customer_is_a_tombstone(sqlite_store, sandbox):
    run_sync(sqlite_store, api_for(sandbox), CONFIG, full=True, now=sandbox.clock.now)
    customer = next(iter(sandbox.store["customer"].objects))
    sandbox.delete_customer(customer)
    report = refetch(sqlite_store, api_for(sandbox), "customer", customer, sandbox.clock.now)
    assert report.deleted == 1
    with sqlite_store.session() as s:
        assert s.get(StripeCustomer, ("default", customer)).deleted is True


def test_the_daily_reconcile_runs_once_a_day(sqlite_store, sandbox):
    run_sync(sqlite_store, api_for(sandbox), CONFIG, full=True, now=sandbox.clock.now)
    sandbox.advance(timedelta(hours=23))
    assert run_sync(sqlite_store, api_for(sandbox), CONFIG, full=False, now=sandbox.clock.now).mode == "incremental"
    sandbox.advance(timedelta(hours=2))
    report = run_sync(sqlite_store, api_for(sandbox), CONFIG, full=False, now=sandbox.clock.now)
    assert report.mode == "full" and "daily" in report.reason


def test_quarantined_objects_are_stored_without_secrets(sqlite_store, sandbox):
    customer = next(iter(sandbox.store["customer"].objects))
    leaked = "sk_live_" + "A1b2C3d4E5f6G7h8"
    sandbox.inject_malformed(customer, metadata={"note": leaked, "count": 3})
    report = run_sync(sqlite_store, api_for(sandbox), CONFIG, full=True, now=sandbox.clock.now)
    assert [(q.object_type, q.object_id) for q in report.quarantined] == [("customer", customer)]
    with sqlite_store.session() as s:
        entry = s.scalar(select(Quarantine).where(Quarantine.object_id == customer))
        assert leaked not in json.dumps(entry.raw) and entry.raw["metadata"]["note"] == "***"


def test_sync_command_prints_counts_and_lists_quarantined_objects(tmp_path, sandbox, monkeypatch):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "stripe.yaml").write_text("contacts:\n  type: account\n  id_metadata_key: account_id\n"
                                       "  create_missing: true\n")
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    for name, value in {"STRIPE_API_KEY": sandbox.api_key, "STRIPE_API_BASE": sandbox.url,
                        "DATABASE_URL": url, "RULES_DIR": str(rules), "STRIPE_MAX_RPS": "500"}.items():
        monkeypatch.setenv(name, value)
    broken = next(iter(sandbox.store["subscription"].objects))
    sandbox.inject_malformed(broken, status="sleeping")
    result = CliRunner().invoke(app, ["sync", "--full"])
    assert result.exit_code == 1, result.output
    customers = len(sandbox.store["customer"].objects)
    assert f"customers:      {customers} read, {customers} changed" in result.output
    assert f"quarantined subscription {broken}: subscription {broken} has an unknown status" in result.output
    sandbox.clear_malformed(broken)
    sandbox.advance(timedelta(seconds=2))
    sandbox.update_subscription(broken, metadata={"x": "1"})
    again = CliRunner().invoke(app, ["sync", "--json"])
    assert again.exit_code == 0, again.output
    counts = json.loads(again.stdout)
    assert counts["mode"] == "incremental" and counts["quarantined"] == [] and counts["events_applied"] >= 1
    store = open_store(url)
    with store.session() as s:
        assert s.get(StripeSubscription, ("default", broken)).raw["metadata"]["x"] == "1"
    store.engine.dispose()


def test_sync_without_a_key_is_a_plain_configuration_error(tmp_path, monkeypatch):
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    result = CliRunner().invoke(app, ["sync"])
    assert result.exit_code == 2 and "STRIPE_API_KEY is not set" in result.output
