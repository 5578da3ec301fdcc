"""The README's production command, run for real (issue 16, points 1, 3, 7, 9): honcho starts
web, worker and scheduler on PostgreSQL and Redis, they stay up and answer, the scheduler
syncs at once on becoming leader, /healthz turns ok only once a sync succeeded and every role
beats, and every line they log is JSON with event, level, timestamp and message."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
import redis

from stripe_sandbox import Sandbox
from tests.conftest import clean_env

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]
ROOT = Path(__file__).resolve().parents[2]
README_COMMAND = "stripe-lifecycle check && honcho start web worker scheduler"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _health(base: str) -> tuple[int, dict]:
    try:
        response = httpx.get(f"{base}/healthz", timeout=5)
        return response.status_code, response.json()
    except (httpx.HTTPError, ValueError):
        return 0, {}


def test_the_readme_production_command_keeps_web_worker_and_scheduler_up(tmp_path, postgres_url, redis_url,
                                                                          redis_namespace):
    readme = (ROOT / "README.md").read_text()
    assert README_COMMAND in readme, "the README's production command changed: update this test"
    (tmp_path / "Procfile").write_text((ROOT / "Procfile").read_text())
    sb = Sandbox(api_key="sk_test_stack", start=datetime(2026, 11, 1, tzinfo=timezone.utc))
    price = sb.create_price(sb.create_product("Pro")["id"], "usd", unit_amount=9900)
    customer = sb.create_customer(name="Acme", metadata={"account_id": "acme"})
    sb.create_subscription(customer["id"], [{"price": price["id"], "quantity": 1}])
    port, console_port = _port(), _port()
    with sb:
        env = clean_env(STRIPE_API_KEY=sb.api_key, STRIPE_API_BASE=sb.url, DATABASE_URL=postgres_url,
                        REDIS_URL=redis_url, REDIS_NAMESPACE=redis_namespace, RULES_DIR=str(ROOT / "rules"),
                        WEB_PORT=str(port), PORT=str(port), CONSOLE_PORT=str(console_port),
                        METRICS_TOKEN="metrics-token-0123456789", SYNC_EVERY="3600", EVALUATE_EVERY="3600",
                        LEADER_TTL_MS="3000")
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        proc = subprocess.Popen(["sh", "-c", README_COMMAND], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        base, body, status = f"http://127.0.0.1:{port}", {}, 0
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and proc.poll() is None:
                status, body = _health(base)
                if (status == 200 and body.get("status") == "ok" and body["checks"]["workers"]["alive"] >= 2
                        and body["checks"]["sync"]["age_seconds"] is not None):
                    break
                time.sleep(0.5)
            assert proc.poll() is None, "the stack stopped"
            assert status == 200 and body["status"] == "ok", body
            # The first sync ran at once on leadership (SYNC_EVERY is an hour), and evaluate after it.
            assert body["checks"]["sync"]["age_seconds"] is not None
            assert body["checks"]["scheduler"]["alive"] == 1
            time.sleep(8)  # well past the moment a `release` process would have exited
            assert proc.poll() is None, "honcho stopped the stack"
            assert _health(base)[0] == 200
            assert httpx.get(f"{base}/healthz?probe=private-value", timeout=5).status_code == 200
            assert httpx.get(f"{base}/metrics", timeout=5).status_code == 404  # public port: webhook and health only
            metrics = httpx.get(f"http://127.0.0.1:{console_port}/metrics", timeout=5,
                                headers={"Authorization": "Bearer metrics-token-0123456789"}).text
            assert 'lifecycle_stripe_requests_total{status_class="2xx"}' in metrics
            assert "lifecycle_scheduler_leader 1.0" in metrics and 'lifecycle_queue_depth{queue="deliver"}' in metrics
            beats = redis.Redis.from_url(redis_url).hgetall(f"{redis_namespace}:heartbeats")
            roles = sorted(json.loads(v)["role"] for v in beats.values())
            assert roles == ["scheduler", "worker", "worker"]
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                out, _ = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                out, _ = proc.communicate()
    lines = [line.split(" | ", 1)[1] for line in out.splitlines()
             if " | " in line and not line.split(" | ", 1)[0].rstrip().endswith("system")]
    assert lines, out[-3000:]
    for line in lines:
        record = json.loads(line)  # every line JSON
        assert {"event", "level", "timestamp", "message"} <= record.keys(), line
    text = "\n".join(lines)
    assert "setup plugin" not in text
    access = [json.loads(line) for line in lines if '"http_request"' in line]
    assert any(a["path"] == "/healthz" and a["status"] == 200 and "duration_ms" in a for a in access)
    assert "private-value" not in text and "probe=" not in text
    assert sb.api_key not in out
