"""The compute adapter on a real store (SQLite and PostgreSQL): mirror rows written by the
sync's own writers in, snapshots, ContactState, ContactHistory and SubscriptionHistory out."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.mrr.shapes import DAY, NOW, PERIOD_END, T, item, price, subscription
from tests.mrr.test_renewal_and_stages import SEED
from worker.compute import (
    compute_snapshots,
    monthly_movements,
    recompute,
    unlinked_customers,
)
from worker.core.money import FxTable
from worker.core.snapshot import ContactSnapshot
from worker.rules.model import ContactsConfig, MrrConfig, SourceConfig
from worker.store.models import (
    Contact,
    ContactHistory,
    ContactState,
    SubscriptionHistory,
)
from worker.sync import mirror

SOURCE = SourceConfig(mrr=MrrConfig(preset="stripe", currency="usd", fx_rates={"eur": Decimal("1.08")}))
SYNCED = NOW - timedelta(hours=1)  # when the sync wrote the mirror
EVENT = NOW - timedelta(minutes=30)  # Stripe's time of a later change


def customer(cid: str, account: str | None, created: int = T - 300 * DAY) -> dict:
    return {"id": cid, "object": "customer", "name": f"Name {cid}", "email": f"{cid}@example.com",
            "created": created, "currency": "usd", "livemode": False,
            "metadata": {"account_id": account} if account else {}}


def sub(sid: str, cus: str, amount: str, currency: str = "usd", status: str = "active") -> dict:
    return subscription(item(price(amount, currency=currency, pid=f"price_{sid}", product="prod_pro"),
                             iid=f"si_{sid}"), sid=sid, customer=cus, currency=currency, status=status)


def write(store, customers=(), subs=(), at=None, stamp=SYNCED):
    with store.session() as session:
        mirror.write_customers(session, list(customers), ContactsConfig(), stamp=stamp, changed_at=at)
        mirror.write_subscriptions(session, list(subs), stamp=stamp, changed_at=at)


@pytest.fixture
def acme(store):
    """acme-1 has two Stripe customers (USD and EUR subscriptions); cus_x links to no contact."""
    write(store, [customer("cus_1", "acme-1"), customer("cus_2", "acme-1", created=T - 10 * DAY),
                  customer("cus_x", None)],
          [sub("sub_a", "cus_1", "10000"), sub("sub_b", "cus_2", "5000", "eur"), sub("sub_x", "cus_x", "700")])
    return store


def history(store, model):
    with store.session() as session:
        key = model.__table__.primary_key.columns.values()[0]
        return list(session.scalars(select(model).order_by(key)))


def test_first_recompute_stores_state_and_first_seen_history(acme):
    pairs = recompute(acme, SOURCE, SEED, now=NOW)
    assert len(pairs) == 1
    previous, new = pairs[0]
    assert previous is None
    assert (new.contact_id, new.stage, new.mrr_minor, new.currency) == ("acme-1", "customer", 15400, "usd")
    assert new.mrr_native == {"usd": 10000, "eur": 5000}  # 100.00 + 50.00 EUR * 1.08 = 154.00
    assert new.stripe_customer_ids == ("cus_1", "cus_2")
    assert new.renewal_date == datetime.fromtimestamp(PERIOD_END, tz=timezone.utc)
    [state] = history(acme, ContactState)
    assert ContactSnapshot.from_state(state.snapshot) == new
    assert (state.stage, state.mrr_minor, state.computed_at) == ("customer", 15400, NOW)
    [row] = history(acme, ContactHistory)
    assert (row.cause, row.at, row.observed_at, row.mrr_native) == ("first_seen", SYNCED, NOW, {"usd": 10000, "eur": 5000})
    assert sorted(r.subscription_id for r in history(acme, SubscriptionHistory)) == ["sub_a", "sub_b"]


def test_recompute_without_changes_returns_nothing_and_writes_nothing(acme):
    recompute(acme, SOURCE, SEED, now=NOW)
    assert recompute(acme, SOURCE, SEED, now=NOW + timedelta(hours=2)) == []
    assert len(history(acme, ContactHistory)) == 1 and len(history(acme, SubscriptionHistory)) == 2


def test_a_change_is_dated_at_stripes_event_time(acme):
    recompute(acme, SOURCE, SEED, now=NOW)
    write(acme, subs=[sub("sub_a", "cus_1", "10000", status="canceled"), sub("sub_b", "cus_2", "5000", "eur",
                                                                             status="canceled")],
          at=EVENT + timedelta(hours=2), stamp=NOW + timedelta(hours=3))
    later = NOW + timedelta(hours=3)
    [(previous, new)] = recompute(acme, SOURCE, SEED, now=later)
    assert (previous.stage, new.stage) == ("customer", "churn")
    assert (new.mrr_minor, new.mrr_native, new.renewal_date) == (0, {}, None)
    assert new.changed_at == EVENT + timedelta(hours=2)
    rows = history(acme, ContactHistory)
    assert (rows[-1].cause, rows[-1].at, rows[-1].observed_at) == ("stage,mrr,renewal_date", EVENT + timedelta(hours=2),
                                                                  later)
    subs = [r for r in history(acme, SubscriptionHistory) if r.status == "canceled"]
    assert sorted(r.subscription_id for r in subs) == ["sub_a", "sub_b"]
    assert all(s.status_since == EVENT + timedelta(hours=2) for s in new.subscriptions)


def test_an_explicit_event_time_wins(acme):
    recompute(acme, SOURCE, SEED, now=NOW)
    write(acme, subs=[sub("sub_a", "cus_1", "20000")], at=NOW + timedelta(minutes=5), stamp=NOW + timedelta(minutes=5))
    given = NOW + timedelta(minutes=1)
    [(previous, new)] = recompute(acme, SOURCE, SEED, contact_ids=["acme-1"], now=NOW + timedelta(hours=1), at=given)
    assert (previous.mrr_minor, new.mrr_minor) == (15400, 25400)
    assert history(acme, ContactHistory)[-1].at == given


def test_an_fx_only_change_is_recorded_as_such_and_is_no_movement(acme):
    recompute(acme, SOURCE, SEED, now=NOW)
    dearer = SourceConfig(mrr=MrrConfig(currency="usd", fx_rates={"eur": Decimal("1.20")}))
    [(previous, new)] = recompute(acme, dearer, SEED, now=NOW + timedelta(days=1))
    assert (previous.mrr_minor, new.mrr_minor) == (15400, 16000)
    assert previous.mrr_native == new.mrr_native
    assert history(acme, ContactHistory)[-1].cause == "fx"
    fx = FxTable.from_config(dearer.mrr)
    [month] = monthly_movements(acme, ["2026-11"], fx)
    assert month == {"month": "2026-11", "new": 16000, "expansion": 0, "contraction": 0, "churn": 0,
                     "reactivation": 0}


def test_unlinked_customers_are_listed_one_by_one_with_a_null_contact(acme):
    with acme.session() as session:
        [entry] = unlinked_customers(session, SOURCE, SEED, now=NOW)
    data = entry.snapshot.to_json()
    assert (data["contact_id"], data["stripe_customer_ids"], data["mrr"]) == (None, ["cus_x"],
                                                                              {"amount_minor": 700, "currency": "usd"})
    assert data["name"] == "Name cus_x"


def test_read_only_snapshots_write_nothing(acme):
    with acme.session() as session:
        [explained] = compute_snapshots(session, SOURCE, SEED, now=NOW, explain=True)
    assert explained.snapshot.mrr_minor == 15400
    assert any("FX: 50.00 EUR × 1.08 = 54.00 USD" in line for line in explained.lines)
    assert history(acme, ContactState) == [] and history(acme, ContactHistory) == []


def test_a_contact_without_stripe_customers_has_zero_mrr_and_no_stage(store):
    with store.session() as session:
        session.add(Contact(id="imported-1", type="account", name="Imported", email=None, source="import",
                            created_at=NOW, updated_at=NOW))
    [(previous, new)] = recompute(store, SOURCE, SEED, now=NOW)
    assert (previous, new.stage, new.mrr_minor, new.currency, new.stripe_customer_ids) == (None, None, 0, "usd", ())


def test_recompute_inside_the_callers_transaction(acme):
    with acme.session() as session:
        pairs = recompute(session, SOURCE, SEED, contact_ids=["acme-1", "nobody"], now=NOW)
        assert [p[1].contact_id for p in pairs] == ["acme-1"]
        session.rollback()  # the caller decides: nothing is stored
    assert history(acme, ContactState) == []


def test_sub_second_times_do_not_make_an_unchanged_contact_look_changed(acme):
    odd = NOW + timedelta(seconds=1, microseconds=123456)
    write(acme, subs=[sub("sub_a", "cus_1", "10000", status="past_due")], at=odd, stamp=odd)
    assert len(recompute(acme, SOURCE, SEED, now=odd + timedelta(microseconds=5))) == 1
    assert recompute(acme, SOURCE, SEED, now=odd + timedelta(minutes=1, microseconds=7)) == []


def test_a_subscription_moving_to_another_contact_keeps_its_past_due_since(store):
    write(store, [customer("cus_m", "old-1")], [sub("sub_m", "cus_m", "4000", status="past_due")])
    [(_, old)] = recompute(store, SOURCE, SEED, now=NOW)
    assert old.subscriptions[0].status_since == SYNCED
    moved_at = NOW + timedelta(days=3)
    write(store, [customer("cus_m", "new-2")], at=moved_at, stamp=moved_at)
    pairs = {new.contact_id: new for _, new in recompute(store, SOURCE, SEED, now=moved_at + timedelta(hours=1))}
    assert pairs["new-2"].subscriptions[0].status_since == SYNCED  # from the subscription's own history
    assert pairs["old-1"].subscriptions == () and pairs["old-1"].mrr_minor == 0
