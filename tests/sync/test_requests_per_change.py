"""One fetch per change (issue #18, point 4): events coalesce per object, the API-shape probe is
remembered, and `sync --json` reports requests per change."""

from __future__ import annotations

from datetime import timedelta

from tests.sync.conftest import api_for
from tests.sync.test_sandbox_sync import CONFIG
from worker.sync import refetch, run_sync

PROBE = ("/v1/prices", (("limit", 1),))


def _recording(api):
    calls: list[tuple[str, tuple]] = []
    real = api.get

    def get(path, params=None):
        calls.append((path, tuple(sorted((params or {}).items())) if params and "expand" not in params else ()))
        return real(path, params)

    api.get = get
    return calls


def _active_subscriptions(sandbox, count):
    return [s for s in sandbox.store["subscription"].objects.values() if s["status"] == "active"][:count]


def test_the_api_shape_probe_is_asked_once_not_on_every_refetch(sqlite_store, sandbox):
    run_sync(sqlite_store, api_for(sandbox), CONFIG, full=True, now=sandbox.clock.now)
    calls = []
    for sub in _active_subscriptions(sandbox, 3):
        sandbox.update_subscription(sub["id"], cancel_at_period_end=True)
        api = api_for(sandbox)  # a new client per re-fetch, as each webhook message builds one
        recorded = _recording(api)
        refetch(sqlite_store, api, "subscription", sub["id"], sandbox.clock.now)
        calls += recorded
    assert PROBE not in calls
    assert [path for path, _ in calls] == [f"/v1/subscriptions/{s['id']}" for s in _active_subscriptions(sandbox, 3)]


def test_an_incremental_sync_reads_each_changed_object_once_and_reports_requests_per_change(sqlite_store, sandbox):
    run_sync(sqlite_store, api_for(sandbox), CONFIG, full=True, now=sandbox.clock.now)
    sandbox.advance(timedelta(minutes=5))
    subs = _active_subscriptions(sandbox, 4)
    for sub in subs:  # several events per object
        sandbox.update_subscription(sub["id"], cancel_at_period_end=True)
        sandbox.update_subscription(sub["id"], cancel_at_period_end=False)
        sandbox.update_subscription(sub["id"], metadata={"n": "1"})
    api = api_for(sandbox)
    calls = _recording(api)
    report = run_sync(sqlite_store, api, CONFIG, full=False, now=sandbox.clock.now)
    fetched = [path for path, _ in calls if path.startswith("/v1/subscriptions/")]
    assert sorted(fetched) == sorted(f"/v1/subscriptions/{s['id']}" for s in subs)  # one each
    assert PROBE not in calls
    assert report.objects_refetched == 4 and report.events_applied >= 12
    data = report.to_json()
    assert data["requests_per_change"] == round(report.requests / 4, 3)
    assert report.requests == len(calls)


def test_a_full_sync_reports_no_requests_per_change(sqlite_store, sandbox):
    report = run_sync(sqlite_store, api_for(sandbox), CONFIG, full=True, now=sandbox.clock.now)
    assert report.to_json()["requests_per_change"] is None
