"""Item 2 of issue 15: one contact whose MRR cannot be converted (no exchange rate for its
currency) is skipped with one error naming it and the fix; every other contact is evaluated,
and the accounts/report paths go on too. The shipped rules cover every sandbox currency."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

from structlog.testing import capture_logs

from stripe_sandbox import Sandbox
from stripe_sandbox.plans import CURRENCIES
from worker.automations.service import evaluate_job
from worker.runtime.runtime import Runtime
from worker.automations.service import run_evaluation
from worker.rules.loader import load_rules
from worker.settings import load_settings
from worker.store.db import open_store
from worker.stripe_api.transport import StripeApi
from worker.sync.runner import run_sync

START = datetime(2026, 11, 1, tzinfo=timezone.utc)
SHIPPED = Path(__file__).resolve().parents[2] / "rules"


def _rules_without_jpy(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(SHIPPED / "stages.yaml", rules / "stages.yaml")
    text = (SHIPPED / "stripe.yaml").read_text()
    (rules / "stripe.yaml").write_text(text.replace(", jpy: 0.0067", ""))
    (rules / "automations.yaml").write_text(
        "automations:\n  - name: hello\n    on: renewal_due\n    within: 40 days\n"
        "    do:\n      - log: {message: hi}\n")
    assert "jpy" not in load_rules(rules, {}).source.mrr.fx_rates
    return rules


def _account(tmp_path: Path):
    sb = Sandbox(api_key="sk_test_sandbox", start=START)
    product = sb.create_product("Pro")
    usd = sb.create_price(product["id"], "usd", unit_amount=1000)
    jpy = sb.create_price(product["id"], "jpy", unit_amount=1500)
    yen = sb.create_customer(metadata={"account_id": "yen"})
    sb.create_subscription(yen["id"], [{"price": jpy["id"], "quantity": 1}])
    for name in ("fine", "also-fine"):
        customer = sb.create_customer(metadata={"account_id": name})
        sb.create_subscription(customer["id"], [{"price": usd["id"], "quantity": 1}])
    return sb


def test_a_contact_without_an_exchange_rate_is_skipped_and_every_other_is_evaluated(tmp_path):
    rules = _rules_without_jpy(tmp_path)
    sb = _account(tmp_path)
    store = open_store(f"sqlite:///{tmp_path / 'lc.db'}")
    with sb:
        run_sync(store, StripeApi.connect(sb.api_key, sb.url), load_rules(rules, {}).source, full=True, now=START)
    settings = load_settings(database_url=str(store.engine.url), rules_dir=rules)
    with capture_logs() as logged:
        runtime = Runtime(settings, store=store)
        result = run_evaluation(runtime, START + timedelta(days=1))
        evaluate_job(runtime, START + timedelta(days=2))  # the scheduled job: no exception either
    assert sorted(f.contact_id for f in result.fired) == ["also-fine", "fine"]
    errors = [e for e in logged if e.get("log_level") == "error" and e.get("contact_id") == "yen"]
    first_pass = [e for e in errors if e["event"] == "contact_skipped"]
    assert len(first_pass) == 2  # one per pass
    assert "JPY" in first_pass[0]["error"] and "fx_rates" in first_pass[0]["error"]
    store.engine.dispose()


def test_the_report_leaves_out_a_contact_without_an_exchange_rate_and_shows_the_rest(tmp_path):
    rules = _rules_without_jpy(tmp_path)
    sb = _account(tmp_path)
    store = open_store(f"sqlite:///{tmp_path / 'lc.db'}")
    ruleset = load_rules(rules, {})
    with sb:
        run_sync(store, StripeApi.connect(sb.api_key, sb.url), ruleset.source, full=True, now=START)
    settings = load_settings(database_url=str(store.engine.url), rules_dir=rules)
    run_evaluation(Runtime(settings, store=store), START + timedelta(days=1))
    from worker.report.build import build_report  # noqa: PLC0415

    with capture_logs() as logged:
        report = build_report(store, ruleset, now=START + timedelta(days=1), since=None)
    assert report.mrr_total == 2 * 1000  # the two USD contacts
    skipped = [e for e in logged if e["event"] == "contact_skipped"]
    assert [e["contact_id"] for e in skipped] == ["yen"] and "fx_rates" in skipped[0]["error"]
    store.engine.dispose()


def test_the_shipped_rules_have_a_rate_for_every_currency_the_sandbox_generates():
    rates = load_rules(SHIPPED, {}).source.mrr
    covered = {c.lower() for c in rates.fx_rates} | {rates.currency.lower()}
    assert set(CURRENCIES) <= covered
