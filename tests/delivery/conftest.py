"""Fixtures for the delivery tests: a real local HTTP sink, rule folders pointing at it, and a
helper writing firings with their delivery rows the way the evaluate step does."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.delivery.sink import Sink
from worker.delivery import create_action_deliveries
from worker.rules.loader import load_rules
from worker.rules.model import RuleSet
from worker.settings import Settings, load_settings
from worker.store.db import Store
from worker.store.models import Delivery, Firing

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
HOOK_SECRET = "whsec_delivery_test_secret_1234"


def contact_json(contact_id: str, name: str = "Acme") -> dict[str, Any]:
    return {
        "contact_id": contact_id, "contact_type": "account", "name": name, "email": f"billing@{contact_id}.example",
        "stripe_customer_ids": [f"cus_{contact_id}"], "stage": "customer",
        "mrr": {"amount_minor": 15000, "currency": "usd"}, "renewal_date": "2026-12-01T00:00:00Z",
        "subscriptions": [],
    }


def write_rules(directory: Path, hook_url: str, *, automations: str | None = None,
                destinations: str = "destinations: []\n") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "automations.yaml").write_text(automations if automations is not None else f"""
automations:
  - name: hook
    on: stage_changed
    do:
      - webhook: {{url: "{hook_url}", secret: "${{HOOK_SECRET}}"}}
  - name: two-step
    on: stage_changed
    do:
      - log: {{message: "{{{{ contact.name }}}} changed"}}
      - webhook: {{url: "{hook_url}"}}
""")
    (directory / "destinations.yaml").write_text(destinations)
    return directory


def read_rules(directory: Path) -> RuleSet:
    return load_rules(directory, {**os.environ, "HOOK_SECRET": HOOK_SECRET})


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def rules_dir(tmp_path, sink) -> Path:
    return write_rules(tmp_path / "rules", sink.url("/hook"))


@pytest.fixture
def rules(rules_dir) -> RuleSet:
    return read_rules(rules_dir)


@pytest.fixture
def make_settings(rules_dir):
    def build(database_url: str = "sqlite:///unused.db", **overrides: Any) -> Settings:
        values = {"database_url": database_url, "rules_dir": rules_dir, "delivery_max_attempts": 8,
                      "delivery_backoff_base_s": 10, "delivery_lease_s": 120}
        values.update(overrides)
        return load_settings(**values)

    return build


class Outbox:
    """Writes firings and their action deliveries as evaluate does (one transaction each)."""

    def __init__(self, store: Store, rules: RuleSet):
        self.store = store
        self.rules = rules

    def fire(self, contact_id: str, automation: str = "hook", *, at: datetime = T0,
             occurrence: str | None = None) -> tuple[int, list[int]]:
        spec = self.rules.automation(automation)
        with self.store.session() as session:
            firing = Firing(
                automation=automation, contact_id=contact_id, occurrence=occurrence or f"stage:{contact_id}:{at.isoformat()}",
                trigger="stage_changed", subscription_id=None, arm="treated", fired_at=at, stage="customer",
                mrr_minor=15000, currency="usd", renewal_date=None, goal=None,
                snapshot={"contact": contact_json(contact_id), "subscription": None},
            )
            session.add(firing)
            session.flush()
            ids = create_action_deliveries(session, firing, spec.actions, at)
            return firing.id, ids

    def row(self, delivery_id: int) -> Delivery:
        with self.store.session() as session:
            return session.get(Delivery, delivery_id)


@pytest.fixture
def outbox(sqlite_store, rules) -> Outbox:
    """On SQLite (fast); `any_outbox` runs on SQLite and PostgreSQL."""
    return Outbox(sqlite_store, rules)


@pytest.fixture
def any_outbox(store, rules) -> Outbox:
    return Outbox(store, rules)
