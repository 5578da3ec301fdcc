"""/healthz tells the truth: each failure turns it degraded or unhealthy and names the check
(issue 16, point 1). `assess` is pure, so the states are a table; the app test reads the
facts from a real database and rule folder."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from starlette.testclient import TestClient

from worker.runtime.heartbeat import Beacon, Heartbeats, record_success
from worker.settings import load_settings
from worker.store.db import open_store
from starlette.applications import Starlette

from worker.web.app import health_routes
from worker.web.health import Facts, Thresholds, assess

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
LIMITS = Thresholds(heartbeat_stale_s=120, sync_stale_s=900, evaluate_stale_s=3 * 3600, startup_grace_s=600)


def ago(seconds: float) -> str:
    return (NOW - timedelta(seconds=seconds)).isoformat()


def beat(role: str, at: float, ident: str | None = None, **extra) -> dict:
    return {"role": role, "at": ago(at), "id": ident or f"{role}:1@h", **extra}


ALIVE = [beat("worker", 5), beat("scheduler", 3, leader=True)]


def facts(**overrides) -> Facts:
    values = dict(started_at=NOW - timedelta(hours=1), last={"sync": NOW - timedelta(seconds=30),
                  "evaluate": NOW - timedelta(seconds=60), "measure": None},
                  beats=list(ALIVE), redis="ok", expect_processes=True)
    values.update(overrides)
    return Facts(**values)


@pytest.mark.parametrize(("case", "given", "status", "failed", "reason_has"), [
    ("all well", facts(), "ok", [], None),
    ("never synced within the grace", facts(started_at=NOW - timedelta(seconds=60), last={}), "ok", [], None),
    ("never synced after the grace", facts(last={}), "unhealthy", ["sync"], "never synced"),
    ("sync older than the threshold", facts(last={"sync": NOW - timedelta(seconds=1000)}), "degraded", ["sync"],
     "1000 s ago"),
    ("sync far too old", facts(last={"sync": NOW - timedelta(hours=2)}), "unhealthy", ["sync"], "7200 s ago"),
    ("rules invalid", facts(rules_problem="automations.yaml:4: unknown trigger"), "degraded", ["rules"],
     "automations.yaml:4"),
    ("a stale worker beside a live one", facts(beats=[*ALIVE, beat("worker", 600, "worker:2@h")]), "degraded",
     ["workers"], "worker:2@h"),
    ("no live worker", facts(beats=[beat("worker", 600), beat("scheduler", 3)]), "unhealthy", ["workers"],
     "no worker is alive"),
    ("no scheduler ever", facts(beats=[beat("worker", 5)]), "unhealthy", ["scheduler"], "no scheduler heartbeat"),
    ("a worker whose every message fails", facts(beats=[beat("worker", 5, failing_since=ago(300)),
                                                        beat("scheduler", 3)]),
     "degraded", ["workers"], "every message has failed"),
    ("embedded without processes", facts(beats=[], redis="not configured", expect_processes=False), "ok", [], None),
    ("database unreachable", facts(database="unreachable"), "unhealthy", ["database"], "database unreachable"),
    ("redis unreachable", facts(redis="unreachable"), "unhealthy", ["redis"], "Redis unreachable"),
    ("deliveries waiting", facts(oldest_due=NOW - timedelta(seconds=2000)), "degraded", ["deliveries"],
     "has waited 2000 s"),
    ("dead deliveries", facts(dead_recent=15), "degraded", ["deliveries"], "15 deliveries went dead"),
    ("evaluate stale", facts(last={"sync": NOW, "evaluate": NOW - timedelta(hours=4)}), "degraded", ["evaluate"],
     "evaluation"),
])
def test_health_states_name_the_failed_check(case, given, status, failed, reason_has):
    body = assess(given, NOW, LIMITS)
    assert body["status"] == status, case
    assert body["failed"] == failed, case
    if reason_has:
        assert any(reason_has in r for r in body["reasons"]), body["reasons"]
    for name in failed:
        assert body["checks"][name]["status"] != "ok" and body["checks"][name]["reason"]


def test_never_synced_is_a_number_in_json_not_a_silent_ok():
    body = assess(facts(last={}), NOW, LIMITS)
    assert body["last_sync_age_seconds"] is None and body["status"] == "unhealthy"


def test_healthz_reads_heartbeats_last_successes_and_rules_from_the_database(sqlite_url, tmp_path):
    """The app over a real database: invalid rules → degraded 200; never synced after the
    grace → 503 unhealthy; then a sync and a heartbeat make it ok."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "stages.yaml").write_text("stages:\n  customer: {status: [active]}\n")
    (rules / "automations.yaml").write_text("automations:\n  - name: x\n    on: stage_chnged\n    do: [log]\n")
    store = open_store(sqlite_url)
    clock = {"now": NOW}
    settings = load_settings(database_url=sqlite_url, rules_dir=rules, health_startup_grace_s=60)
    # /healthz (public listener) and /metrics (console listener) share one registry and one facts reader
    app = Starlette(routes=health_routes(settings, store, clock=lambda: clock["now"])[0])
    with TestClient(app) as client:
        first = client.get("/healthz")
        assert first.status_code == 200 and first.json()["status"] == "degraded"
        assert first.json()["failed"] == ["rules"]
        assert "automations.yaml:3 (1 problem; run `stripe-lifecycle check`)" in first.json()["checks"]["rules"]["reason"]
        assert "stage_chnged" not in first.text  # /healthz is public: where, not what

        clock["now"] = NOW + timedelta(seconds=120)
        late = client.get("/healthz")
        assert late.status_code == 503 and late.json()["failed"] == ["sync", "rules"]
        metrics = client.get("/metrics").text
        assert "lifecycle_sync_lag_seconds +Inf" in metrics and "NaN" not in metrics
        assert 'lifecycle_last_success_timestamp_seconds{job="sync"} 0.0' in metrics
        assert "lifecycle_rules_valid 0.0" in metrics

        (rules / "automations.yaml").write_text("automations:\n  - name: x\n    on: stage_changed\n    do: [log]\n")
        record_success(store, "sync", clock["now"])
        record_success(store, "evaluate", clock["now"])
        sink = Heartbeats(redis_client=None, namespace="x", store=store)
        Beacon(sink, "scheduler", lambda: clock["now"]).beat(leader=True)
        fine = client.get("/healthz")
        assert fine.status_code == 200 and fine.json()["status"] == "ok", fine.json()
        assert fine.json()["checks"]["scheduler"]["alive"] == 1
        metrics = client.get("/metrics").text
        assert "lifecycle_rules_valid 1.0" in metrics and "lifecycle_scheduler_leader 1.0" in metrics
        assert "lifecycle_sync_lag_seconds 0.0" in metrics
