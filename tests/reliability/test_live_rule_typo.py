"""Item 3 of issue 15: a typo in a live rule file stops no job. Re-fetch (the webhook path),
incremental sync, reconcile, measure and evaluate keep the last good rules, and the problem
is logged as FILE:LINE."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

from structlog.testing import capture_logs

from stripe_sandbox import Sandbox
from worker.automations.service import evaluate_job, measure_job
from worker.runtime.runtime import Runtime
from worker.sync.service import refetch_job, sync_job
from worker.settings import load_settings
from worker.store.db import open_store
from worker.store.models import StripeCustomer

START = datetime(2026, 11, 1, tzinfo=timezone.utc)
SHIPPED = Path(__file__).resolve().parents[2] / "rules"


def test_every_job_keeps_the_last_good_rules_when_a_live_file_gets_a_typo(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(SHIPPED, rules)
    sb = Sandbox(api_key="sk_test_sandbox", start=START)
    product = sb.create_product("Pro")
    price = sb.create_price(product["id"], "usd", unit_amount=1000)
    customer = sb.create_customer(metadata={"account_id": "acme"})
    sb.create_subscription(customer["id"], [{"price": price["id"], "quantity": 1}])
    db = f"sqlite:///{tmp_path / 'lc.db'}"
    settings = load_settings(database_url=db, rules_dir=rules, stripe_api_key=sb.api_key)
    with sb:
        settings = settings.model_copy(update={"stripe_api_base": sb.url})
        runtime = Runtime(settings)  # one process: its live rules
        sync_job(runtime, START, full=True)  # the rules are good: loaded and kept
        runtime.rules()
        stripe_yaml = rules / "stripe.yaml"
        stripe_yaml.write_text(stripe_yaml.read_text().replace("mrr:", "mrr:\n  bogus: [unclosed", 1))
        sb.update_customer(customer["id"], name="Acme renamed")
        now = START + timedelta(hours=1)
        with capture_logs() as logged:
            refetch_job(runtime, "customer", customer["id"], now)
            sync_job(runtime, now, full=False)
            sync_job(runtime, now, full=True)
            measure_job(runtime, now)
            evaluate_job(runtime, now)
        runtime.close()
    kept = [e for e in logged if e["event"] == "rules_invalid_keeping_previous"]
    assert kept, [e["event"] for e in logged]
    assert all(any(p.startswith("stripe.yaml:") for p in e["problems"]) for e in kept)
    assert any("stripe.yaml:" in e["error"] for e in kept)
    assert not [e for e in logged if e["event"] in ("job_failed", "unexpected_error")]
    store = open_store(db)
    with store.session() as session:
        assert session.get(StripeCustomer, ("default", customer["id"])).name == "Acme renamed"
    store.engine.dispose()
