"""Simulated business activity: deterministic by seed, every kind of change happens, and each
change shows up as events whose payloads match the objects."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from stripe_sandbox import Sandbox, generate_account, simulate_activity
from tests.sandbox.conftest import START


def _run(seed: int) -> tuple[Counter, list[tuple[str, str, int]]]:
    sandbox = Sandbox(start=START, seed=8)
    generate_account(sandbox, customers=800, seed=8)
    done = simulate_activity(sandbox, days=20, seed=seed)
    return done, [(e["type"], e["data"]["object"]["id"], e["created"]) for e in sandbox.events()]


def test_activity_is_deterministic_by_seed():
    assert _run(1) == _run(1)
    assert _run(1)[1] != _run(2)[1]


def test_activity_produces_every_kind_of_change():
    sandbox = Sandbox(start=START, seed=8)
    generate_account(sandbox, customers=1500, seed=8)
    done = simulate_activity(sandbox, days=30, seed=3,
                             rates={"unschedule_cancel": 20.0, "payment_recovered": 300.0})
    assert {"upgrade", "downgrade", "schedule_cancel", "cancel_now", "payment_failed",
            "payment_recovered", "signup", "metadata"} <= set(done)
    types = Counter(e["type"] for e in sandbox.events())
    assert types["customer.subscription.created"] == done["signup"]
    assert types["customer.subscription.deleted"] >= done["cancel_now"]
    assert sandbox.clock.now - START == timedelta(days=30)
    updated = [e for e in sandbox.events("customer.subscription.updated")
               if "items" in e["data"]["previous_attributes"]]
    assert any(e["data"]["previous_attributes"]["items"]["data"][0]["quantity"]
               != e["data"]["object"]["items"]["data"][0]["quantity"] for e in updated)
