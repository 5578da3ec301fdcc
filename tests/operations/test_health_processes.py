"""/healthz over real processes (issue 16, point 1): `web` + `scheduler` on Redis with no
worker is unhealthy once the start-up grace is over, naming `sync` (never synced) and
`workers` (no heartbeat); a worker that starts beats and clears `workers`; a worker killed
with SIGKILL leaves a stale heartbeat that /healthz names."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import clean_env

pytestmark = [pytest.mark.slow, pytest.mark.redis]


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(args: list[str], env: dict[str, str], cwd) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "worker.cli.main", *args], env=env, cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _wait_for(base: str, predicate, timeout: float = 60) -> dict:
    deadline, body = time.monotonic() + timeout, {}
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{base}/healthz", timeout=5)
            body = {**response.json(), "http": response.status_code}
            if predicate(body):
                return body
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.3)
    raise AssertionError(f"/healthz never got there; last answer: {body}")


def test_health_names_the_missing_worker_the_missing_sync_and_a_killed_worker(tmp_path, redis_url, redis_namespace):
    port = _port()
    env = clean_env(REDIS_URL=redis_url, REDIS_NAMESPACE=redis_namespace, DATABASE_URL=f"sqlite:///{tmp_path}/lc.db",
                    WEB_PORT=str(port), HEALTH_STARTUP_GRACE_S="3", HEALTH_HEARTBEAT_STALE_S="8",
                    LEADER_TTL_MS="1500", RULES_DIR=str(tmp_path / "rules"))
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "stages.yaml").write_text("stages:\n  customer: {status: [active]}\n")
    base = f"http://127.0.0.1:{port}"
    procs = [_start(["scheduler"], env, tmp_path), _start(["web"], env, tmp_path)]
    try:
        down = _wait_for(base, lambda b: b["http"] == 503 and "workers" in b["failed"] and "sync" in b["failed"])
        assert down["status"] == "unhealthy" and down["checks"]["scheduler"]["alive"] == 1
        assert "no worker heartbeat at all" in down["checks"]["workers"]["reason"]
        assert "never synced" in down["checks"]["sync"]["reason"]

        worker = _start(["worker", "--processes", "1", "--threads", "1"], env, tmp_path)
        procs.append(worker)
        up = _wait_for(base, lambda b: "workers" not in b["failed"])
        assert up["checks"]["workers"]["alive"] == 1
        assert "sync" in up["failed"]  # no STRIPE_API_KEY: still never synced, and it says so

        os.killpg(worker.pid, signal.SIGKILL)
        stale = _wait_for(base, lambda b: "workers" in b["failed"], timeout=60)
        assert "stale heartbeat of worker:" in stale["checks"]["workers"]["reason"]
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
