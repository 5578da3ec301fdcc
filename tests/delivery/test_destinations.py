"""Destination pushes: which trait changes push (pure table), one row per change, and the push
arriving once at a real local receiver (Segment's HTTP API shape and a webhook)."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tests.delivery.conftest import T0, write_rules
from worker.core.snapshot import ContactSnapshot, SubscriptionSnapshot
from worker.delivery import (
    create_destination_deliveries,
    deliver_pending,
    destination_pushes,
)
from worker.rules.loader import load_rules
from worker.rules.model import Destination
from worker.store.models import Delivery

SUB = SubscriptionSnapshot(id="sub_1", customer="cus_1", status="active", mrr_minor=15000, currency="usd",
                           renewal_date=datetime(2026, 12, 1, tzinfo=UTC), plans=("pro", "price_1"))
BASE = ContactSnapshot(contact_id="acme-1", contact_type="account", name="Acme", email=None,
                       stripe_customer_ids=("cus_1",), stage="customer", mrr_minor=15000, currency="usd",
                       renewal_date=SUB.renewal_date, subscriptions=(SUB,), changed_at=T0)
ALL = Destination(handler="webhook", params=None)
STAGE_ONLY = Destination(handler="webhook", params=None, traits=("stage",))
ALL_TRAITS = {"stage": "customer", "mrr": 150.0, "renewal_date": "2026-12-01T00:00:00Z", "plan": "pro",
              "status": "active"}


@pytest.mark.parametrize(("prev", "new", "expected"), [
    pytest.param(None, BASE, [(0, ALL_TRAITS), (1, {"stage": "customer"})], id="first-seen-pushes-once"),
    pytest.param(BASE, replace(BASE, changed_at=T0 + timedelta(days=1)), [], id="nothing-pushed-changed"),
    pytest.param(BASE, replace(BASE, mrr_minor=20000), [(0, {**ALL_TRAITS, "mrr": 200.0})], id="mrr-only-where-pushed"),
    pytest.param(BASE, replace(BASE, stage="churn"), [(0, {**ALL_TRAITS, "stage": "churn"}), (1, {"stage": "churn"})],
                 id="stage-everywhere"),
    pytest.param(BASE, replace(BASE, subscriptions=(replace(SUB, status="past_due"),)),
                 [(0, {**ALL_TRAITS, "status": "past_due"})], id="status"),
    pytest.param(BASE, replace(BASE, subscriptions=(replace(SUB, plans=("enterprise",)),)),
                 [(0, {**ALL_TRAITS, "plan": "enterprise"})], id="plan"),
    pytest.param(BASE, replace(BASE, name="Acme Corp"), [], id="untracked-field"),
])
def test_a_push_goes_out_when_a_pushed_trait_changes(prev, new, expected):
    pushes = destination_pushes(prev, new, [ALL, STAGE_ONLY])
    assert [(p.index, p.traits) for p in pushes] == expected
    assert all(p.handler == "webhook" for p in pushes)


@pytest.fixture
def segment_rules(tmp_path, sink):
    folder = write_rules(tmp_path / "rules", sink.url(), destinations=f"""
destinations:
  - segment: {{write_key: "${{SEGMENT_WRITE_KEY}}", base_url: "{sink.url('/segment')}"}}
    traits: [stage, mrr, renewal_date, plan, status]
  - webhook: {{url: "{sink.url('/dest')}"}}
    traits: [stage]
""")
    return load_rules(folder, {**os.environ, "HOOK_SECRET": "x" * 8, "SEGMENT_WRITE_KEY": "seg_write_key_123"})


def _evaluate(store, rules, prev, new, now):
    """What the evaluate step does for one contact's change (one transaction)."""
    with store.session() as session:
        pushes = destination_pushes(prev, new, rules.destinations)
        return create_destination_deliveries(session, new, pushes, now)


def test_each_change_is_pushed_once_to_each_destination(sqlite_store, segment_rules, make_settings, sink):
    settings = make_settings()
    first = _evaluate(sqlite_store, segment_rules, None, BASE, T0)
    again = _evaluate(sqlite_store, segment_rules, None, BASE, T0 + timedelta(minutes=1))  # re-run of the same change
    assert len(first) == 2 and again == []

    assert deliver_pending(sqlite_store, segment_rules, T0, settings) == {"delivered": 2}
    assert deliver_pending(sqlite_store, segment_rules, T0 + timedelta(hours=1), settings) == {}

    grown = replace(BASE, mrr_minor=20000, changed_at=T0 + timedelta(days=2))
    assert len(_evaluate(sqlite_store, segment_rules, BASE, grown, T0 + timedelta(days=2))) == 1  # segment only
    deliver_pending(sqlite_store, segment_rules, T0 + timedelta(days=2), settings)

    segment = [a for a in sink.received() if a.path == "/segment/group"]
    webhook = [a for a in sink.received() if a.path == "/dest"]
    assert [a.body["traits"]["mrr"] for a in segment] == [150.0, 200.0]
    assert segment[0].body["groupId"] == "acme-1" and segment[0].body["traits"]["plan"] == "pro"
    assert len({a.body["messageId"] for a in segment}) == 2  # one message id per change
    assert len(webhook) == 1 and webhook[0].body["contact"]["stage"] == "customer"
    assert webhook[0].body["trigger"] == "traits_changed"
    with sqlite_store.session() as session:
        rows = session.query(Delivery).order_by(Delivery.id).all()
    assert [r.target for r in rows] == ["destination#0", "destination#1", "destination#0"]
    assert all("seg_write_key" not in repr(r.payload) for r in rows)


def test_a_removed_destination_makes_its_push_dead(sqlite_store, segment_rules, rules, make_settings, sink):
    (seg, _hook) = _evaluate(sqlite_store, segment_rules, None, BASE, T0)
    # the rules now have no destinations at all
    assert deliver_pending(sqlite_store, rules, T0, make_settings()) == {"dead": 2}
    with sqlite_store.session() as session:
        assert "destination#0 is no longer in the rules" in session.get(Delivery, seg).last_error
    assert sink.received(None) == []
