"""The simulated customers: churn at renewal and withdrawn cancellations follow the configured
effects, decided by draws that do not depend on whether the customer was contacted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stripe_sandbox import Sandbox
from worker.demo.behaviour import CustomerBehaviour, Effects, _period_end

START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def account():
    """Four monthly subscriptions renewing on 2026-01-15 (created 2025-12-15)."""
    sb = Sandbox(api_key="sk_test_sandbox", start=START - timedelta(days=17), seed=3)
    price = sb.create_price(sb.create_product("Pro")["id"], "usd", unit_amount=5000, interval="month")
    subs = []
    for n in range(4):
        customer = sb.create_customer(name=f"C{n}", metadata={"account_id": f"c{n}"})
        subs.append(sb.create_subscription(customer["id"], [{"price": price["id"], "quantity": 1}])["id"])
    sb.advance_to(START)
    return sb, subs


def _renewal_iso(sb: Sandbox, sub_id: str) -> str:
    end = _period_end(sb.store.get("subscription", sub_id), sb.store["subscription_item"].objects)
    return datetime.fromtimestamp(end, UTC).isoformat().replace("+00:00", "Z")


def _reminder(sb: Sandbox, sub_id: str) -> dict:
    return {"automation": "renewal-reminder", "contact": {"subscriptions": [
        {"id": sub_id, "renewal_date": _renewal_iso(sb, sub_id)}]}, "subscription": None}


def _run_days(sb: Sandbox, behaviour: CustomerBehaviour, days: int) -> None:
    for _ in range(days):
        behaviour.step(sb)
        sb.advance(timedelta(days=1))


def test_reminded_customers_churn_at_the_reduced_rate_others_at_the_base_rate(account):
    sb, subs = account
    behaviour = CustomerBehaviour(Effects(renewal_churn=1.0, reminder_effect=1.0, notice_rate=0), seed=1)
    for sub_id in subs[:2]:
        behaviour.observe(_reminder(sb, sub_id), at=sb.clock.ts)
    _run_days(sb, behaviour, 16)
    statuses = [sb.store.get("subscription", s)["status"] for s in subs]
    assert statuses == ["active", "active", "canceled", "canceled"]
    renewals = [d for d in behaviour.decisions.values() if d.kind == "renewal"]
    assert sorted((d.contacted, d.left) for d in renewals) == [(False, True), (False, True), (True, False), (True, False)]


def test_a_save_message_makes_the_customer_withdraw_the_scheduled_cancellation(account):
    sb, subs = account
    for sub_id in subs:
        sb.update_subscription(sub_id, cancel_at_period_end=True)
    behaviour = CustomerBehaviour(Effects(renewal_churn=0, notice_rate=0, save_base=0.0, save_treated=1.0), seed=1)
    behaviour.step(sb)   # notices the scheduled cancellations
    for sub_id in subs[:3]:
        behaviour.observe({"automation": "cancellation-save", "subscription": {"id": sub_id}}, at=sb.clock.ts)
    _run_days(sb, behaviour, 16)
    statuses = [sb.store.get("subscription", s)["status"] for s in subs]
    assert statuses == ["active", "active", "active", "canceled"]
    assert sum(1 for d in behaviour.decisions.values() if d.kind == "save" and not d.left) == 3


def test_the_draw_is_the_same_whether_or_not_the_customer_was_contacted(account):
    sb, subs = account
    deaf = CustomerBehaviour(Effects(notice_rate=0), seed=9)
    reached = CustomerBehaviour(Effects(notice_rate=0), seed=9)
    for sub_id in subs:
        reached.observe(_reminder(sb, sub_id), at=sb.clock.ts)
    for _ in range(15):
        deaf.step(sb)
        reached.step(sb)
        sb.advance(timedelta(days=1))
        if any(d.left for d in deaf.decisions.values()):
            break
    assert deaf.decisions and deaf.decisions.keys() == reached.decisions.keys()
    for key, decision in deaf.decisions.items():
        assert decision.u == reached.decisions[key].u and not decision.contacted and reached.decisions[key].contacted


def test_without_effect_keeps_the_base_rates_and_drops_every_response():
    effects = Effects(renewal_churn=0.2, reminder_effect=0.5, save_base=0.1, save_treated=0.7).without_effect()
    assert effects.reminded_churn == effects.renewal_churn == 0.2
    assert effects.save_treated == effects.save_base == 0.1
