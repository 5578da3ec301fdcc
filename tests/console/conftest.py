"""A console world: a sandbox account synced into the store, evaluated once (contact_state),
plus one firing with a dead and a pending delivery; users, tokens and the console app.

`log` actions deliver without any network, so a re-driven delivery can be sent for real.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from tests.outcomes.builders import History

PASSWORD = "correct horse battery staple"
TOKEN = "ci-token-0123456789abcdef"
METRICS = "metrics-token-0123456789"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

STAGES_YAML = """\
stages:
  trial:    {status: [trialing]}
  customer: {status: [active, past_due, unpaid, incomplete]}
  churn:    {status: [canceled, incomplete_expired]}
precedence: [customer, trial, churn]
"""
STRIPE_YAML = """\
mrr:
  currency: usd
  fx_rates: {eur: 1.08, gbp: 1.27, cad: 0.73, jpy: 0.0067, aud: 0.66, chf: 1.12, sek: 0.095}
"""
AUTOMATIONS_YAML = """\
automations:
  - name: renewal-heads-up
    on: renewal_due
    within: 30 days
    if: {stage: [customer]}
    do:
      - log: {message: "renews"}
    goal: {kind: renewal}
    holdout: 10%
"""


@pytest.fixture
def console_rules(tmp_path):
    folder = tmp_path / "rules"
    folder.mkdir()
    for name, text in (("stages.yaml", STAGES_YAML), ("stripe.yaml", STRIPE_YAML),
                       ("automations.yaml", AUTOMATIONS_YAML)):
        (folder / name).write_text(text)
    return folder


@dataclass
class World:
    store: object
    rules_dir: object
    contact: str  # a contact with a firing, a dead and a pending delivery
    dead_id: int
    pending_id: int
    contacts: int
    contact_name: str | None = None


def build_world(store, rules_dir, customers: int = 25) -> World:
    from stripe_sandbox import Sandbox, generate_account
    from tests.sync.conftest import api_for
    from worker.rules.loader import load_rules
    from worker.compute.history import recompute
    from worker.store.models import Contact, Delivery
    from worker.sync import run_sync
    from sqlalchemy import select

    rules = load_rules(rules_dir, {})
    sb = Sandbox(api_key="sk_test_console", start=datetime(2026, 11, 1, tzinfo=UTC), seed=5)
    generate_account(sb, customers=customers, seed=5)
    with sb:
        run_sync(store, api_for(sb), rules.source, full=True, now=sb.clock.now)
    with store.session() as session:
        recompute(session, rules.source, rules.stages, now=NOW)
    with store.session() as session:
        contact, contact_name = session.execute(select(Contact.id, Contact.name).order_by(Contact.id)).first()
        count = len(session.scalars(select(Contact.id)).all())
        firing = History(session).fire("renewal-heads-up", contact, goal="renewal", at=NOW, deliveries=("dead", "pending"))
        rows = session.scalars(select(Delivery).where(Delivery.firing_id == firing.id).order_by(Delivery.id)).all()
        rows[0].last_error = "HTTP 500 from the receiver"
        for row in rows:  # what the outbox writes: the automation and action index (params at send time)
            row.payload, row.target = {"automation": "renewal-heads-up", "action_index": 0}, "renewal-heads-up#0"
        dead_id, pending_id = rows[0].id, rows[1].id
    return World(store, rules_dir, contact, dead_id, pending_id, count, contact_name)


@pytest.fixture
def world(store, console_rules):
    return build_world(store, console_rules)


def console_settings(rules_dir, **overrides):
    from worker.console.auth import hash_password
    from worker.settings import load_settings

    values = dict(rules_dir=rules_dir, console_users=f"ann:{hash_password(PASSWORD)}",
                  console_api_tokens=f"ci:{TOKEN}", metrics_token=METRICS, console_secret="s" * 40)
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def console(world):
    """A TestClient on the console app (redirects not followed)."""
    from starlette.testclient import TestClient

    from worker.console.app import create_console_app

    app = create_console_app(console_settings(world.rules_dir), world.store, clock=lambda: NOW)
    with TestClient(app, follow_redirects=False) as client:
        yield client


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def log_in(client, user: str = "ann", password: str = PASSWORD):
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"username": user, "password": password, "csrf_token": token, "next": "/accounts"})
