"""`evaluate` end to end, every piece real: the Stripe sandbox over HTTP, `sync`, the durable-rules
engine, the firing log, and a signed webhook delivered to a local HTTP server."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from stripe_sandbox import Sandbox
from worker.store.db import open_store
from worker.store.models import Delivery, Firing

pytestmark = pytest.mark.slow
START = datetime(2026, 11, 1, tzinfo=timezone.utc)
SECRET = "hook-secret-4c1d2e"
SHIPPED = Path(__file__).resolve().parents[2] / "rules"


def _automations(url: str) -> str:
    hook = f'{{url: "{url}", secret: "${{HOOK_SECRET}}"}}'
    return f"""
automations:
  - name: renewal-heads-up
    on: renewal_due
    within: 30 days
    if: {{stage: customer, mrr: ">= 100"}}
    do:
      - webhook: {hook}
  - name: welcome-customer
    on: stage_changed
    to: customer
    do:
      - webhook: {hook}
  - name: save-the-cancellation
    on: cancellation_scheduled
    do:
      - webhook: {hook}
    goal: {{kind: retention}}
    holdout: 50%
"""


@pytest.fixture
def account():
    sb = Sandbox(api_key="sk_test_sandbox", start=START)
    product = sb.create_product("Pro")
    price = sb.create_price(product["id"], "usd", unit_amount=15000, interval="month", lookup_key="pro")
    small = sb.create_price(product["id"], "usd", unit_amount=5000, interval="month", lookup_key="lite")
    customers = {}
    for account_id, price_id in (("acme", price["id"]), ("bolt", small["id"]), ("cask", price["id"])):
        customer = sb.create_customer(name=account_id.title(), metadata={"account_id": account_id})
        sub = sb.create_subscription(customer["id"], [{"price": price_id, "quantity": 1}])
        customers[account_id] = (customer["id"], sub["id"])
    with sb:
        yield sb, customers, price["id"]


@pytest.fixture
def rules_dir(tmp_path, httpserver) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    for name in ("stripe.yaml", "stages.yaml"):
        shutil.copy(SHIPPED / name, folder / name)
    (folder / "automations.yaml").write_text(_automations(httpserver.url_for("/hook")))
    return folder


def _json(result) -> list:
    """The command's --json output; on failure, the command's own error first."""
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def _verify(request) -> dict:
    """Check X-Lifecycle-Signature exactly as a receiver would, from the raw body."""
    parts = dict(p.split("=", 1) for p in request.headers["X-Lifecycle-Signature"].split(","))
    body = request.get_data()
    expected = hmac.new(SECRET.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(parts["v1"], expected)
    return json.loads(body)


def test_sync_then_evaluate_fires_each_occurrence_once_and_delivers_signed_webhooks(
        account, rules_dir, httpserver, cli, tmp_path):
    sb, customers, pro_price = account
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    env = {"STRIPE_API_KEY": sb.api_key, "STRIPE_API_BASE": sb.url, "RULES_DIR": str(rules_dir),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'lc.db'}", "HOOK_SECRET": SECRET}

    assert cli("sync", "--full", env=env).returncode == 0
    now = START + timedelta(days=5)

    # Baseline pass: what already was fires no stage_changed; the renewal 26 days out does.
    result = cli("evaluate", "--now", now.isoformat(), "--json", env=env)
    assert result.returncode == 0, result.stderr
    fired = json.loads(result.stdout)
    assert sorted((f["automation"], f["contact_id"]) for f in fired) == [
        ("renewal-heads-up", "acme"), ("renewal-heads-up", "cask")]  # bolt's MRR is 50 < 100
    assert all(f["arm"] == "treated" and f["trigger"] == "renewal_due" for f in fired)
    arrivals = [_verify(r) for r, _ in httpserver.log]
    assert sorted(a["contact"]["contact_id"] for a in arrivals) == ["acme", "cask"]
    assert arrivals[0]["contact"]["mrr"] == {"amount_minor": 15000, "currency": "usd"}
    assert {r.headers["Idempotency-Key"] for r, _ in httpserver.log}.__len__() == 2

    # Evaluating again fires nothing new and sends nothing.
    again = cli("evaluate", "--now", (now + timedelta(hours=1)).isoformat(), "--json", env=env)
    assert _json(again) == [] and len(httpserver.log) == 2

    # Changes after the baseline: a new paying customer, and a scheduled cancellation.
    sb.advance(timedelta(days=1))
    newcomer = sb.create_customer(name="Dune", metadata={"account_id": "dune"})
    sb.create_subscription(newcomer["id"], [{"price": pro_price, "quantity": 1}])
    sb.update_subscription(customers["bolt"][1], cancel_at_period_end=True)
    synced = cli("sync", env=env)
    assert synced.returncode == 0, synced.stderr[-3000:]
    later = START + timedelta(days=6, hours=1)

    dry = cli("evaluate", "--now", later.isoformat(), "--dry-run", "--json", env=env)
    planned = _json(dry)
    store = open_store(env["DATABASE_URL"])
    with store.session() as s:
        firings_before = s.scalar(select(func.count()).select_from(Firing))
    assert firings_before == 2, "a dry run wrote firings"
    assert len(httpserver.log) == 2, "a dry run delivered something"

    real = _json(cli("evaluate", "--now", later.isoformat(), "--json", env=env))
    assert real == planned
    got = {(f["automation"], f["contact_id"], f["trigger"]) for f in real}
    assert ("welcome-customer", "dune", "stage_changed") in got
    assert ("renewal-heads-up", "dune", "renewal_due") in got
    assert ("save-the-cancellation", "bolt", "cancellation_scheduled") in got
    cancel = next(f for f in real if f["automation"] == "save-the-cancellation")
    treated = [f for f in real if f["arm"] == "treated"]
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Firing)) == 2 + len(real)
        states = dict(s.execute(select(Delivery.state, func.count()).group_by(Delivery.state)).all())
    assert states == {"delivered": 2 + len(treated)}
    assert len(httpserver.log) == 2 + len(treated)
    # The holdout arm is logged, never acted on.
    bodies = [json.loads(r.get_data()) for r, _ in httpserver.log]
    sent_for_cancel = [b for b in bodies if b["automation"] == "save-the-cancellation"]
    assert len(sent_for_cancel) == (1 if cancel["arm"] == "treated" else 0)
