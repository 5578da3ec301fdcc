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


def test_new_objects_of_an_incremental_sync_are_read_with_one_list_request_not_one_get_each(
        tmp_path, sandbox, monkeypatch):
    """Customers and subscriptions created inside the events window are listed by `created`
    range (worker.sync.listed): fewer requests than objects, and the same mirror as reading
    each one by its own GET."""
    from tests.sync.conftest import mirror_state
    from worker.store.db import open_store
    from worker.sync import listed

    stores = {name: open_store(f"sqlite:///{tmp_path / name}.db") for name in ("listed", "one_by_one")}
    try:
        for store in stores.values():
            run_sync(store, api_for(sandbox), CONFIG, full=True, now=sandbox.clock.now)
        sandbox.advance(timedelta(minutes=5))
        price = next(p for p in sandbox.store["price"].objects.values()
                     if p.get("recurring") and p["currency"] == "usd" and p.get("unit_amount"))
        for n in range(30):  # a burst of sign-ups: a customer and a subscription each
            customer = sandbox.create_customer(name=f"New {n}", metadata={"account_id": f"new-{n}"})
            sandbox.create_subscription(customer["id"], [{"price": price["id"], "quantity": 1}])
            if n % 10 == 0:
                sandbox.advance(timedelta(seconds=1))
        old = _active_subscriptions(sandbox, 2)
        for sub in old:  # and two existing objects changed: one GET each, as before
            sandbox.update_subscription(sub["id"], metadata={"n": "2"})
        api = api_for(sandbox)
        calls = _recording(api)
        report = run_sync(stores["listed"], api, CONFIG, full=False, now=sandbox.clock.now)
        gets = [path for path, _ in calls if path.startswith(("/v1/customers/", "/v1/subscriptions/"))]
        assert sorted(gets) == sorted(f"/v1/subscriptions/{s['id']}" for s in old)
        assert report.objects_refetched == 62
        assert report.requests <= 62 * 0.25 and report.requests_per_change <= 0.25  # was > 1 per object
        monkeypatch.setattr(listed, "MIN_BATCH", 10**9)  # one GET per object
        single = run_sync(stores["one_by_one"], api_for(sandbox), CONFIG, full=False, now=sandbox.clock.now)
        assert single.requests > 62
        assert mirror_state(stores["listed"]) == mirror_state(stores["one_by_one"])
    finally:
        for store in stores.values():
            store.engine.dispose()
