"""Processes: two schedulers on the real Redis enqueue each tick once and hand over when the
leader dies; `run` stops cleanly on SIGTERM; the web app answers /healthz and /metrics."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timezone

import pytest
import redis
from starlette.testclient import TestClient

from tests.conftest import clean_env
from worker.settings import load_settings
from worker.store.db import open_store
from worker.store.models import SyncState
from worker.web.app import create_app

pytestmark = pytest.mark.slow


def _start(command: str, env: dict[str, str], cwd) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "worker.cli.main", command], env=clean_env(**env),
                            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _ticks(client: redis.Redis, namespace: str) -> list[str]:
    messages = client.hgetall(f"{namespace}:sync.msgs").values()
    return [json.loads(m)["kwargs"]["tick"] for m in messages
            if json.loads(m)["actor_name"] == "sync_events"]


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.redis
def test_two_schedulers_enqueue_each_tick_once_and_the_standby_takes_over(redis_url, redis_namespace, tmp_path):
    env = {"REDIS_URL": redis_url, "REDIS_NAMESPACE": redis_namespace, "SYNC_EVERY": "1",
           "EVALUATE_EVERY": "3600", "MEASURE_EVERY": "3600", "REDELIVER_EVERY": "3600",
           "LEADER_TTL_MS": "1500", "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    client = redis.Redis.from_url(redis_url)
    first = _start("scheduler", env, tmp_path)
    second = _start("scheduler", env, tmp_path)
    try:
        assert _wait_for(lambda: len(_ticks(client, redis_namespace)) >= 5, 30), "no ticks enqueued"
        leader_token = client.get(f"{redis_namespace}:scheduler-leader")
        assert leader_token is not None
        # kill -9 the leader: it cannot release the lock, the stand-by must wait out the TTL.
        killed_at = datetime.now(timezone.utc)
        ticks_before = len(_ticks(client, redis_namespace))
        leader_pid = int(leader_token.decode().split(":")[1])
        leader = first if first.pid == leader_pid else second
        assert leader.pid == leader_pid
        leader.kill()
        standby = second if leader is first else first
        assert _wait_for(lambda: len(_ticks(client, redis_namespace)) >= ticks_before + 4, 30), \
            "the stand-by did not take over"
        ticks = _ticks(client, redis_namespace)
        counts = Counter(ticks)
        assert max(counts.values()) == 1, f"a tick was enqueued twice: {counts.most_common(3)}"
        after_kill = [t for t in ticks if datetime.fromisoformat(t) > killed_at]
        assert len(after_kill) >= 3
        assert client.get(f"{redis_namespace}:scheduler-leader") not in (None, leader_token)
        assert standby.poll() is None
    finally:
        for proc in (first, second):
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)
        for key in client.scan_iter(f"{redis_namespace}*"):
            client.delete(key)


def test_run_starts_and_stops_cleanly_on_sigterm(tmp_path):
    proc = _start("run", {"DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "SYNC_EVERY": "1"}, tmp_path)
    lines: list[str] = []
    try:
        while True:
            line = proc.stderr.readline()
            assert line, f"run exited early: {''.join(lines)}"
            lines.append(line)
            if '"started"' in line:
                break
        time.sleep(1.5)  # let a few scheduled ticks run through the in-process workers
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    log = "".join(lines) + err
    assert proc.returncode == 0, log
    events = [json.loads(line)["event"] for line in log.splitlines() if line.startswith("{")]
    assert "stopping" in events and events[-1] == "stopped"
    assert "job_enqueued" in events
    # No STRIPE_API_KEY here: each sync tick fails as one plain line naming it, not a traceback.
    failures = [json.loads(line) for line in log.splitlines() if '"job_failed"' in line]
    assert failures and "STRIPE_API_KEY" in failures[0]["error"]
    assert "Traceback" not in log


def test_healthz_reports_database_and_last_sync_age(sqlite_url):
    store = open_store(sqlite_url)
    now = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
    with store.session() as s:
        s.add(SyncState(key="last_sync", value={"at": "2026-11-25T11:58:00Z"}, updated_at=now))
    from worker.console.app import create_console_app

    app = create_app(load_settings(), store, clock=lambda: now)
    console = create_console_app(load_settings(metrics_token="m" * 20), store, clock=lambda: now)
    with TestClient(app) as client:
        health = client.get("/healthz")
        assert client.get("/metrics").status_code == 404  # /metrics is on the console listener
    with TestClient(console) as client:
        metrics = client.get("/metrics", headers={"Authorization": "Bearer " + "m" * 20})
    assert health.status_code == 200
    body = health.json()
    assert (body["database"], body["redis"], body["last_sync_age_seconds"]) == ("ok", "not configured", 120)
    assert body["status"] == "ok" and body["failed"] == [] and body["checks"]["sync"]["age_seconds"] == 120
    assert "lifecycle_sync_lag_seconds 120.0" in metrics.text
    assert 'lifecycle_deliveries_total{state="dead"} 0.0' in metrics.text


@pytest.mark.redis
def test_healthz_is_unhealthy_when_redis_is_gone(sqlite_url):
    store = open_store(sqlite_url)
    gone = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    app = create_app(load_settings(), store, clock=lambda: datetime.now(timezone.utc), redis_client=gone)
    with TestClient(app) as client:
        health = client.get("/healthz")
    assert health.status_code == 503 and health.json()["redis"] == "unreachable"
    assert health.json()["failed"] == ["redis"]
