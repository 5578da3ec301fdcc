"""Firing is a database fact: two evaluators at once fire each occurrence once; rule edits
reload the engine, and a bad edit keeps the last good rules running."""

from __future__ import annotations

import json
import shutil
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from structlog.testing import capture_logs
from sqlalchemy import func, select

from stripe_sandbox import Sandbox, generate_account
from worker.automations.service import run_evaluation
from worker.rules.loader import load_rules
from worker.runtime.runtime import Runtime
from worker.settings import load_settings
from worker.store.db import open_store
from worker.store.models import Delivery, Firing
from worker.stripe_api.transport import StripeApi
from worker.sync.runner import run_sync

START = datetime(2026, 11, 1, tzinfo=timezone.utc)
SHIPPED = Path(__file__).resolve().parents[2] / "rules"
RENEWAL = """
automations:
  - name: renewal-heads-up
    on: renewal_due
    within: 30 days
    if: {stage: customer}
    do:
      - log: {message: "{{ contact.name }} renews {{ contact.renewal_date }}"}
    goal: {kind: renewal}
    holdout: 20%
"""
TRIAL = """
  - name: trial-nudge
    on: trial_ending
    within: 14 days
    do:
      - log: {message: "trial ends"}
"""


@pytest.fixture
def synced(database_url, tmp_path):
    """A generated 120-customer account, fully synced into the store; rules in a temp folder."""
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(SHIPPED / "stages.yaml", rules / "stages.yaml")
    stripe_yaml = (SHIPPED / "stripe.yaml").read_text().replace("gbp: 1.27}", "gbp: 1.27, jpy: 0.0067}")
    (rules / "stripe.yaml").write_text(stripe_yaml)
    (rules / "automations.yaml").write_text(RENEWAL)
    sb = Sandbox(api_key="sk_test_sandbox", start=START, seed=3)
    generate_account(sb, customers=120, seed=3)
    store = open_store(database_url)
    with sb:
        api = StripeApi.connect(sb.api_key, sb.url, max_rps=1000)
        run_sync(store, api, load_rules(rules, {}).source, full=True, now=START)
    settings = load_settings(database_url=database_url, rules_dir=rules)
    yield settings, store, rules
    store.engine.dispose()


def _count(store, model) -> int:
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(model))


@pytest.mark.slow
def test_two_evaluators_at_once_fire_each_occurrence_once(synced):
    settings, store, _ = synced
    now = START + timedelta(days=3)
    solo = run_evaluation(Runtime(settings, store=store), now, dry_run=True, engine="reference")
    assert len(solo.fired) > 10  # the account has renewals within 30 days
    results, errors = [], []

    def evaluate() -> None:
        try:
            own = open_store(str(store.engine.url.render_as_string(False)))  # another process's runtime
            results.append(run_evaluation(Runtime(settings, store=own), now))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=evaluate) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    fired_keys = [(f.automation, f.contact_id, f.occurrence) for r in results for f in r.fired]
    assert len(fired_keys) == len(set(fired_keys)) == len(solo.fired)
    assert _count(store, Firing) == len(solo.fired)
    with store.session() as s:
        arms = dict(s.execute(select(Firing.arm, func.count()).group_by(Firing.arm)).all())
    assert _count(store, Delivery) == arms.get("treated", 0)  # one log action per treated firing
    assert run_evaluation(Runtime(settings, store=store), now + timedelta(minutes=15)).fired == []


@pytest.mark.slow
def test_rule_edits_reload_and_a_bad_edit_keeps_the_last_good_rules(synced):
    settings, store, rules = synced
    now = START + timedelta(days=3)
    runtime = Runtime(settings, store=store)  # one process: its live rules and matcher
    first = run_evaluation(runtime, now, dry_run=True)
    assert {f.automation for f in first.fired} == {"renewal-heads-up"}

    (rules / "automations.yaml").write_text(RENEWAL + TRIAL)
    second = run_evaluation(runtime, now, dry_run=True)
    assert "trial-nudge" in {f.automation for f in second.fired}

    (rules / "automations.yaml").write_text(RENEWAL + TRIAL + "  - name: broken\n    on: nonsense\n")
    with capture_logs() as logged:
        third = run_evaluation(runtime, now, dry_run=True)
    assert [f.to_json() for f in third.fired] == [f.to_json() for f in second.fired]
    kept = [line for line in logged if line.get("event") == "rules_invalid_keeping_previous"]
    assert kept and "nonsense" in json.dumps(kept[0], default=str)


class _Spy:
    """A matcher that counts what reaches the engine, then matches with the reference."""

    def __init__(self, automations):
        from worker.engine import build_matcher

        self.inner = build_matcher(automations, "reference")
        self.seen = 0

    def match(self, occurrences):
        occurrences = list(occurrences)
        self.seen += len(occurrences)
        return self.inner.match(occurrences)


def test_occurrences_already_fired_for_every_listener_never_reach_the_engine(synced, monkeypatch):
    from worker.automations import scope
    from worker.automations.evaluate import evaluate

    monkeypatch.setattr(scope, "FULL_EVERY", timedelta(0))  # every pass looks at every contact
    settings, store, rules_dir = synced
    rules = load_rules(rules_dir, {})
    now = START + timedelta(days=3)
    first = _Spy(rules.automations)
    fired = evaluate(store, rules, first, now=now).fired
    assert fired and first.seen >= len(fired)
    second = _Spy(rules.automations)
    again = evaluate(store, rules, second, now=now + timedelta(minutes=15))
    assert again.fired == [] and again.occurrences >= len(fired)
    # Only the occurrences whose conditions did not hold go back to the engine (a condition may
    # hold later with the same key); those that fired for every listener do not.
    assert second.seen == first.seen - len(fired)
