"""A populated store and a rules folder for the report tests.

Contacts: `a` customer 100.00 USD since Dec 2025 (expanded to 150.00 in Apr), `b` customer
50.00 EUR (×1.08 = 54.00 USD) since Jan, churned in May, `t` trial since May, renewing soon.
Automation `renewal-heads-up` (goal renewal): 12 treated firings, 9 measured (6 succeeded),
5 holdout firings, 4 measured (1 succeeded); deliveries 10 delivered, 1 retrying, 1 dead.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.outcomes.builders import DAY, History, state
from worker.store.models import Outcome

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=timezone.utc)

STAGES_YAML = """\
stages:
  trial:    {status: [trialing]}
  customer: {status: [active, incomplete, incomplete_expired, past_due, unpaid]}
  churn:    {status: [canceled]}
precedence: [customer, trial, churn]
"""
STRIPE_YAML = """\
mrr:
  currency: usd
  fx_rates: {eur: 1.08}
"""
AUTOMATIONS_YAML = """\
automations:
  - name: renewal-heads-up
    on: renewal_due
    within: 30 days
    do:
      - log: {message: "renews"}
    goal: {kind: renewal}
    holdout: 10%
  - name: never-fired
    on: canceled
    do:
      - log: {message: "canceled"}
    goal: {kind: retention}
"""


@pytest.fixture
def rules_dir(tmp_path):
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "stages.yaml").write_text(STAGES_YAML)
    (folder / "stripe.yaml").write_text(STRIPE_YAML)
    (folder / "automations.yaml").write_text(AUTOMATIONS_YAML)
    return folder


def populate(store) -> None:
    with store.session() as session:
        h = History(session)
        for contact in ("a", "b", "t"):
            h.contact(contact)
        dec, jan = datetime(2025, 12, 10, tzinfo=timezone.utc), datetime(2026, 1, 5, tzinfo=timezone.utc)
        h.stage_at("a", dec, "customer", 10000)
        h.stage_at("a", datetime(2026, 4, 2, tzinfo=timezone.utc), "customer", 15000)
        h.stage_at("b", jan, "customer", 5000, "eur")
        h.stage_at("b", datetime(2026, 5, 20, tzinfo=timezone.utc), "churn", 0, "eur")
        h.stage_at("t", datetime(2026, 5, 3, tzinfo=timezone.utc), "trial", 0)
        state(session, "a", "customer", 15000, renewal=NOW + 10 * DAY)
        state(session, "b", "churn", 0, currency="eur")
        state(session, "t", "trial", 0, renewal=NOW + 3 * DAY)
        _firings(session, h)


def _firings(session, h: History) -> None:
    plan = [("treated", 9, 6, 12), ("holdout", 4, 1, 5)]
    deliveries = ["delivered"] * 10 + ["retrying", "dead"]
    for arm, measured, succeeded, fired in plan:
        for index in range(fired):
            contact = f"{arm}-{index}"
            h.contact(contact)
            firing = h.fire("renewal-heads-up", contact, goal="renewal", arm=arm, at=NOW - 60 * DAY + index * DAY,
                            deliveries=(deliveries[index],) if arm == "treated" else ())
            if index < measured:
                ok = index < succeeded
                session.add(Outcome(firing_id=firing.id, goal="renewal", window_end=NOW - DAY, measured_at=NOW,
                                    succeeded=ok, mrr_at_fire_minor=10000, mrr_at_end_minor=10000 if ok else 0,
                                    currency="usd", detail={}))


@pytest.fixture
def report_env(sqlite_url, rules_dir):
    """Environment for `cli(...)`: a populated SQLite store and the rules folder."""
    from worker.store.db import open_store

    store = open_store(sqlite_url)
    try:
        populate(store)
    finally:
        store.engine.dispose()
    return {"DATABASE_URL": sqlite_url, "RULES_DIR": str(rules_dir)}


@pytest.fixture
def rules(rules_dir):
    from worker.rules.loader import load_rules

    return load_rules(rules_dir, {})


@pytest.fixture
def report_store(sqlite_store):
    populate(sqlite_store)
    return sqlite_store
