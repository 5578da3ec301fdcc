"""`accounts --json` reads stored state where it is current and streams its array (issue #18,
point 5): the same output as computing every contact afresh, without recomputing clean ones."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from tests.automations.test_incremental_recompute import World
from worker.cli.main import app
from worker.compute import compute_snapshots
from worker.compute.current import current_snapshots
from worker.rules.loader import load_rules
from worker.sync.runner import run_sync


@pytest.fixture
def world(tmp_path, monkeypatch):
    w = World(tmp_path, monkeypatch)
    yield w
    w.close()


def _both(world, now, computed):
    rules = load_rules(world.rules_dir, {})
    with world.store.session() as session:
        current = [s.to_json() for s in current_snapshots(session, rules.source, rules.stages, now=now,
                                                          computed=computed, chunk=2)]
        fresh = [e.snapshot.to_json() for e in compute_snapshots(session, rules.source, rules.stages, now=now)]
    return current, fresh


def test_clean_contacts_are_read_as_stored_and_changed_ones_computed(world):
    computed: list[str] = []
    before, fresh = _both(world, world.sb.clock.now, computed)
    assert computed == [] and before == fresh and len(before) == 3
    world.sb.advance(timedelta(days=1))
    item = world.sb.retrieve("subscription", world.subs["b"]["id"])["items"]["data"][0]["id"]
    world.sb.update_subscription(world.subs["b"]["id"], items=[{"id": item, "quantity": 2}])
    run_sync(world.store, world.api, load_rules(world.rules_dir, {}).source, full=False, now=world.sb.clock.now)
    computed.clear()
    current, fresh = _both(world, world.sb.clock.now, computed)
    assert computed == ["b"]  # synced but not evaluated yet: its stored snapshot is stale
    assert current == fresh and current[1] != before[1] and current[0] == before[0]


def test_a_moment_before_the_stored_compute_is_computed(world):
    computed: list[str] = []
    current, fresh = _both(world, world.sb.clock.now - timedelta(days=30), computed)
    assert computed == ["a", "b", "c"] and current == fresh


def test_accounts_json_streams_the_same_array(world, monkeypatch):
    for name, value in {"DATABASE_URL": str(world.store.engine.url), "RULES_DIR": str(world.rules_dir)}.items():
        monkeypatch.setenv(name, value)
    now = world.sb.clock.now
    result = CliRunner().invoke(app, ["accounts", "--json", "--now", now.isoformat()])
    assert result.exit_code == 0, result.output
    _, fresh = _both(world, now, [])
    assert result.output == json.dumps(fresh, indent=2) + "\n"
    empty = CliRunner().invoke(app, ["accounts", "--json", "--stage", "churn", "--now", now.isoformat()])
    assert empty.exit_code == 0 and empty.output == "[]\n"
