"""`stripe-lifecycle web` as a real process on PostgreSQL: the public port exposes only the
webhook and /healthz; the console port refuses unauthenticated and forged requests, and an
authenticated API call returns the synced accounts with their exact MRR."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import clean_env, wait_until_healthy
from tests.console.conftest import PASSWORD, TOKEN, build_world, csrf_of
from tests.sync.conftest import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
PROBES = ["/", "/report", "/metrics", "/api/accounts", "/api/openapi.json", "/accounts", "/login", "/revenue",
          "/static/console.js", "/static/vendor/plotly.min.js", "/deliveries", "/stripe/webhook/x", "/healthz/x"]


@pytest.fixture
def web(postgres_url, console_rules, tmp_path):
    from worker.console.auth import hash_password
    from worker.store.db import open_store

    store = open_store(postgres_url)
    world = build_world(store, console_rules)
    public, console = free_port(), free_port()
    env = clean_env(DATABASE_URL=postgres_url, RULES_DIR=str(console_rules), WEB_PORT=str(public),
                    CONSOLE_PORT=str(console), STRIPE_WEBHOOK_SECRET="whsec_listeners_test",
                    CONSOLE_USERS=f"ann:{hash_password(PASSWORD)}", CONSOLE_API_TOKENS=f"ci:{TOKEN}",
                    CONSOLE_SECRET="x" * 40)
    log = tmp_path / "web.log"
    with log.open("w") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "worker.cli.main", "web"], env=env, cwd=tmp_path,
                                stdout=sink, stderr=subprocess.STDOUT)
    try:
        wait_until_healthy(f"http://127.0.0.1:{public}", proc, context=log.read_text)
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{console}/login", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        yield world, f"http://127.0.0.1:{public}", f"http://127.0.0.1:{console}", env
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        store.engine.dispose()
    assert "Traceback" not in log.read_text()
    assert TOKEN not in log.read_text() and PASSWORD not in log.read_text()


def test_public_port_answers_404_for_everything_but_the_webhook_and_healthz(web):
    _, public, _, _ = web
    assert httpx.get(f"{public}/healthz").status_code == 200
    assert httpx.post(f"{public}/stripe/webhook", content=b"{}").status_code == 400  # unsigned: refused
    for path in PROBES:
        for method in ("GET", "POST", "PUT", "DELETE"):
            assert httpx.request(method, f"{public}{path}").status_code == 404, (method, path)
    assert httpx.get(f"{public}/stripe/webhook").status_code == 404
    assert httpx.post(f"{public}/healthz").status_code == 404


def test_console_port_refuses_unauthenticated_and_forged_requests(web):
    world, _, console, _ = web
    with httpx.Client(base_url=console, follow_redirects=False) as client:
        for path in ("/accounts", "/deliveries", "/revenue", "/rules", "/automations", "/report"):
            answer = client.get(path)
            assert answer.status_code == 303 and answer.headers["location"].startswith("/login"), path
        for path in ("/api/accounts", "/api/report", "/api/deliveries", "/metrics", "/api/openapi.json"):
            assert client.get(path).status_code == 401, path
            assert client.get(path, headers={"Authorization": "Bearer forged-token-000000000"}).status_code == 401
        assert client.post(f"/api/deliveries/{world.dead_id}/retry").status_code == 401
        # a logged-in session without the CSRF token (a forged cross-site POST) → 403
        token = csrf_of(client.get("/login").text)
        assert client.post("/login", data={"username": "ann", "password": PASSWORD, "csrf_token": token}).status_code == 303
        assert client.post("/deliveries/retry", data={"id": str(world.dead_id)}).status_code == 403
        assert client.post(f"/api/deliveries/{world.dead_id}/retry").status_code == 403
        assert client.get("/api/deliveries?state=dead").json()["deliveries"][0]["id"] == world.dead_id


def test_authenticated_api_returns_the_synced_accounts_with_exact_mrr(web, cli):
    world, _, console, env = web
    expected = json.loads(cli("accounts", "--json", env={"DATABASE_URL": env["DATABASE_URL"],
                                                          "RULES_DIR": env["RULES_DIR"]}).stdout)
    got = httpx.get(f"{console}/api/accounts?per_page=200", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert got["total"] == len(expected) == world.contacts
    mrr = {a["contact_id"]: a["mrr"] for a in got["accounts"]}
    assert mrr == {a["contact_id"]: a["mrr"] for a in expected}
    assert any(m["amount_minor"] > 0 for m in mrr.values())


def test_redrive_through_the_console_port_is_in_the_audit_log(web):
    world, _, console, _ = web
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert httpx.post(f"{console}/api/deliveries/{world.dead_id}/retry", headers=bearer).status_code == 200
    entries = httpx.get(f"{console}/api/audit", headers=bearer).json()["entries"]
    assert [(e["actor"], e["action"], e["target"]) for e in entries] == [
        ("token:ci", "delivery.retry", f"delivery:{world.dead_id}")]
