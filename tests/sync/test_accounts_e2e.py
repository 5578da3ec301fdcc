"""Several Stripe accounts into one contact space, end to end over HTTP (issue #18 point 6).

Two Stripe sandboxes, each its own HTTP server, generated from the same seed, so every object
id repeats in the other account; one contact (`shared-co`) has a customer in each, billed in
usd in one and eur in the other. Through the real commands and the real `web` process:
both accounts sync, the contact's MRR is the exact sum with the FX rate, each customer names
its account, a webhook to /stripe/webhook/{name} re-reads the object from that account only,
an unknown account's endpoint answers 404, a broken account stops neither the others' sync
nor `connect`'s check of them. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from stripe_sandbox import Sandbox, generate_account
from tests.conftest import clean_env, wait_until_healthy
from tests.sync.conftest import free_port
from worker.cli.main import app
from worker.store.db import open_store
from worker.store.models import StripeCustomer, StripeSubscription, SubscriptionItem

START = datetime(2026, 11, 1, tzinfo=UTC)
KEYS = {"a": "sk_test_account_a_key_0001", "b": "sk_test_account_b_key_0002"}
HOOKS = {"a": "whsec_account_a_secret_0001", "b": "whsec_account_b_secret_0002"}
BAD_KEY = "sk_test_revoked_key_0003"
SHARED = "shared-co"


@dataclass
class Accounts:
    sandboxes: dict[str, Sandbox]
    rules: Path
    env: dict[str, str]
    shared: dict[str, tuple[str, str]]  # account → (customer id, subscription id)


def _sandbox(name: str, currency: str, amount: int) -> tuple[Sandbox, tuple[str, str]]:
    sb = Sandbox(api_key=KEYS[name], start=START, seed=11)
    generate_account(sb, customers=12, seed=11)
    product = sb.create_product("Pro")
    price = sb.create_price(product["id"], currency, unit_amount=amount)
    customer = sb.create_customer(name="Shared Co", metadata={"account_id": SHARED})
    sub = sb.create_subscription(customer["id"], [{"price": price["id"], "quantity": 1}])
    return sb, (customer["id"], sub["id"])


def _rules(folder: Path, sandboxes: dict[str, Sandbox], extra: str = "") -> Path:
    folder.mkdir(exist_ok=True)
    repo_rules = Path(__file__).resolve().parents[2] / "rules"
    (folder / "stages.yaml").write_text((repo_rules / "stages.yaml").read_text())
    accounts = "".join(f"  - name: {name}\n    api_key: \"${{KEY_{name.upper()}}}\"\n    api_base: {sb.url}\n"
                       f"    webhook_secret: \"${{HOOK_{name.upper()}}}\"\n" for name, sb in sandboxes.items())
    (folder / "stripe.yaml").write_text(
        "contacts: {type: account, id_metadata_key: account_id, create_missing: true}\n"
        "mrr: {preset: stripe, currency: usd, fx_rates: {eur: 1.10, gbp: 1.25, jpy: 0.0067}}\n"
        f"accounts:\n{accounts}{extra}")
    return folder


@pytest.fixture
def accounts(tmp_path, database_url, monkeypatch) -> Iterator[Accounts]:
    a, shared_a = _sandbox("a", "usd", 10_000)
    b, shared_b = _sandbox("b", "eur", 5_000)
    assert shared_a == shared_b  # the same ids in both accounts: only the account tells them apart
    with a, b:
        sandboxes = {"a": a, "b": b}
        env = {"KEY_A": KEYS["a"], "KEY_B": KEYS["b"], "HOOK_A": HOOKS["a"], "HOOK_B": HOOKS["b"],
               "KEY_BROKEN": BAD_KEY, "DATABASE_URL": database_url, "STRIPE_MAX_RPS": "500",
               "RULES_DIR": str(_rules(tmp_path / "rules", sandboxes))}
        monkeypatch.delenv("STRIPE_API_KEY", raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield Accounts(sandboxes, tmp_path / "rules", env, {"a": shared_a, "b": shared_b})


def _cli(*args: str, stdout: bool = False) -> tuple[int, str]:
    """Exit code and output (stdout only with `stdout`: JSON without the log lines)."""
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout if stdout else result.output


def _contact(contact_id: str) -> dict:
    code, output = _cli("accounts", "--json", stdout=True)
    assert code == 0, output
    return next(c for c in json.loads(output) if c["contact_id"] == contact_id)


@pytest.fixture
def web(accounts, tmp_path) -> Iterator[str]:
    """The real `web` process (embedded: a webhook's re-fetch runs inline), its base URL."""
    port, log = free_port(), tmp_path / "web.log"
    env = clean_env(**accounts.env, WEB_PORT=str(port), CONSOLE_PORT=str(free_port()))
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "worker.cli.main", "web"], env=env, cwd=tmp_path,
                                stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, proc, context=log.read_text)
        yield base
    finally:
        proc.terminate()
        proc.wait(20)


def test_two_accounts_sync_into_one_contact_space_with_summed_mrr(accounts, web):
    code, output = _cli("sync", "--full", "--json", stdout=True)
    assert code == 0, output
    reports = {r["account"]: r for r in json.loads(output)["accounts"]}
    customers = len(accounts.sandboxes["a"].store["customer"].objects)
    assert set(reports) == {"a", "b"} and all(r["mode"] == "full" and r["customers"] >= customers
                                              for r in reports.values())

    store = open_store(accounts.env["DATABASE_URL"])
    try:
        with store.session() as s:
            per_account = dict(s.execute(select(StripeCustomer.account, func.count())
                                         .group_by(StripeCustomer.account)).all())
        assert per_account == {"a": customers, "b": customers}

        shared = _contact(SHARED)
        customer_id, sub_id = accounts.shared["a"]
        assert shared["stripe_customers"] == [{"id": customer_id, "account": "a"},
                                              {"id": customer_id, "account": "b"}]
        assert shared["mrr"] == {"amount_minor": 10_000 + 5_500, "currency": "usd"}  # 50.00 eur at 1.10
        code, explained = _cli("accounts", "--explain", SHARED)
        assert code == 0 and f"{customer_id} (account a), {customer_id} (account b)" in explained

        # a webhook from account b re-reads the subscription from b; a's of the same id is untouched
        b = accounts.sandboxes["b"]
        b.webhooks.add_endpoint(f"{web}/stripe/webhook/b", secret=HOOKS["b"])
        item = b.retrieve("subscription", sub_id)["items"]["data"][0]["id"]
        b.update_subscription(sub_id, items=[{"id": item, "quantity": 3}])
        b.webhooks.flush()
        assert [d.status for d in b.webhooks.deliveries][-1] == 200, _web_log(accounts)
        with store.session() as s:
            assert s.get(SubscriptionItem, ("b", item)).quantity == 3
            assert s.get(SubscriptionItem, ("a", item)).quantity == 1
            assert s.get(StripeSubscription, ("a", sub_id)).currency == "usd"
        assert _contact(SHARED)["mrr"] == {"amount_minor": 10_000 + 3 * 5_500, "currency": "usd"}
    finally:
        store.engine.dispose()

    body = json.dumps({"id": "evt_1", "type": "customer.updated", "data": {"object": {"id": "cus_1"}}}).encode()
    assert httpx.post(f"{web}/stripe/webhook/nosuch", content=body, timeout=10).status_code == 404
    signed_for_a = _sign(body, HOOKS["a"])
    assert httpx.post(f"{web}/stripe/webhook/b", content=body, headers=signed_for_a, timeout=10).status_code == 400
    assert httpx.post(f"{web}/stripe/webhook", content=body, headers=signed_for_a, timeout=10).status_code == 404


def test_a_broken_account_stops_neither_the_others_sync_nor_connect(accounts):
    a = accounts.sandboxes["a"]
    _rules(accounts.rules, accounts.sandboxes,
           extra=f"  - name: broken\n    api_key: \"${{KEY_BROKEN}}\"\n    api_base: {a.url}\n")
    code, output = _cli("sync", "--full")
    assert code == 1, output
    assert "Stripe account broken: sync failed" in output
    assert "Stripe account a:" in output and "Stripe account b:" in output
    assert BAD_KEY not in output
    store = open_store(accounts.env["DATABASE_URL"])
    try:
        with store.session() as s:
            per_account = dict(s.execute(select(StripeCustomer.account, func.count())
                                         .group_by(StripeCustomer.account)).all())
    finally:
        store.engine.dispose()
    customers = len(a.store["customer"].objects)
    assert per_account == {"a": customers, "b": customers}

    code, output = _cli("connect")
    assert code == 2, output
    lines = output.splitlines()
    assert any(line.startswith("Stripe account a: connected to") and "/stripe/webhook/a" in line for line in lines)
    assert any(line.startswith("Stripe account b: connected to") for line in lines)
    assert any(line.startswith("Stripe account broken: FAILED") for line in lines)
    assert "1 of 3 Stripe accounts failed: broken." in output
    assert BAD_KEY not in output


def test_the_scheduled_sync_runs_each_account_and_survives_a_broken_one(accounts):
    from worker.runtime.queue import InlineQueue
    from worker.runtime.runtime import Runtime
    from worker.settings import load_settings
    from worker.sync.service import sync_job

    a = accounts.sandboxes["a"]
    _rules(accounts.rules, accounts.sandboxes,
           extra=f"  - name: broken\n    api_key: \"${{KEY_BROKEN}}\"\n    api_base: {a.url}\n")
    runtime = Runtime(load_settings(), queue=InlineQueue(), clock=lambda: a.clock.now)
    try:
        assert [acct.name for acct in runtime.accounts()] == ["a", "b", "broken"]
        assert sync_job(runtime, a.clock.now, full=False) is None  # one message per account
        with runtime.store().session() as s:
            accounts_synced = set(s.scalars(select(StripeCustomer.account).distinct()))
            cursors = set(s.scalars(select(func.substr(text_key(), 1, 64))))
        assert accounts_synced == {"a", "b"}
        assert {"a:events_cursor", "b:events_cursor"} <= cursors and "broken:events_cursor" not in cursors
    finally:
        runtime.close()


def text_key():  # noqa: ANN201
    from worker.store.models import SyncState

    return SyncState.key


def _sign(body: bytes, secret: str) -> dict[str, str]:
    import hashlib
    import hmac
    import time

    t = int(time.time())
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={t},v1={mac}", "Content-Type": "application/json"}


def _web_log(accounts: Accounts) -> str:
    return (accounts.rules.parent / "web.log").read_text()[-3000:]
