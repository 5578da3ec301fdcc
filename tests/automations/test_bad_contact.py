"""One contact whose data cannot be computed (a currency with no FX rate) is skipped with a
clear error naming it and the fix; every other contact is still computed and evaluated."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

from structlog.testing import capture_logs

from stripe_sandbox import Sandbox
from worker.automations.service import run_evaluation
from worker.runtime.runtime import Runtime
from worker.rules.loader import load_rules
from worker.settings import load_settings
from worker.store.db import open_store
from worker.stripe_api.transport import StripeApi
from worker.sync.runner import run_sync

START = datetime(2026, 11, 1, tzinfo=timezone.utc)
SHIPPED = Path(__file__).resolve().parents[2] / "rules"


def _rules_without_a_yen_rate(tmp_path: Path) -> Path:
    """The shipped stages and an automation; stripe.yaml's fx_rates: eur, gbp — no jpy."""
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(SHIPPED / "stages.yaml", rules / "stages.yaml")
    (rules / "stripe.yaml").write_text((SHIPPED / "stripe.yaml").read_text().replace(", jpy: 0.0067", ""))
    (rules / "automations.yaml").write_text(
        "automations:\n  - name: hello\n    on: renewal_due\n    within: 40 days\n"
        "    do:\n      - log: {message: hi}\n")
    return rules


def _evaluate(tmp_path: Path, rules: Path, subscribers: list[tuple[str, str]]) -> tuple[list, list]:
    """Each (account id, currency) subscribes to Pro; sync the sandbox, evaluate a day later:
    (the firings, the log lines)."""
    sb = Sandbox(api_key="sk_test_sandbox", start=START)
    product = sb.create_product("Pro")
    prices = {"usd": sb.create_price(product["id"], "usd", unit_amount=1000),
              "jpy": sb.create_price(product["id"], "jpy", unit_amount=1500)}
    for account, currency in subscribers:
        customer = sb.create_customer(metadata={"account_id": account})
        sb.create_subscription(customer["id"], [{"price": prices[currency]["id"], "quantity": 1}])
    store = open_store(f"sqlite:///{tmp_path / 'lc.db'}")
    with sb:
        run_sync(store, StripeApi.connect(sb.api_key, sb.url), load_rules(rules, {}).source, full=True, now=START)
    settings = load_settings(database_url=str(store.engine.url), rules_dir=rules)
    with capture_logs() as logged:
        result = run_evaluation(Runtime(settings, store=store), START + timedelta(days=1))
    return result.fired, logged


def test_a_contact_in_an_unconfigured_currency_does_not_stop_the_others(tmp_path):
    fired, logged = _evaluate(tmp_path, _rules_without_a_yen_rate(tmp_path),
                              [("mixed", "usd"), ("mixed", "jpy"), ("fine", "usd")])
    assert [f.contact_id for f in fired] == ["fine"]
    skipped = [e for e in logged if e["event"] == "contact_not_computed"]
    assert len(skipped) == 1 and skipped[0]["contact_id"] == "mixed"
    assert "JPY" in skipped[0]["error"] and "fx_rates" in skipped[0]["error"]


def test_a_contact_billed_only_in_an_unconfigured_currency_does_not_stop_the_pass(tmp_path):
    """Its snapshot computes (in its own currency), but its triggers need the rate to the
    reporting currency: that contact is skipped with the fix named, the others fire."""
    fired, logged = _evaluate(tmp_path, _rules_without_a_yen_rate(tmp_path), [("tokyo", "jpy"), ("fine", "usd")])
    assert [f.contact_id for f in fired] == ["fine"]
    skipped = [e for e in logged if e["event"] == "contact_skipped"]
    assert [e["contact_id"] for e in skipped] == ["tokyo"] and "fx_rates" in skipped[0]["error"]
