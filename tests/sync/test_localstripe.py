"""Sync against localstripe over real HTTP: legacy-shape subscriptions are stored as given."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy import select

from tests.sync.conftest import LOCALSTRIPE_KEY
from worker.rules.model import ContactsConfig, SourceConfig
from worker.store.models import (
    Contact,
    StripeCustomer,
    StripePrice,
    StripeSubscription,
    SubscriptionItem,
)
from worker.stripe_api.transport import StripeApi
from worker.sync import run_sync

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _post(base: str, path: str, data: dict) -> dict:
    response = httpx.post(f"{base}{path}", data=data, auth=(LOCALSTRIPE_KEY, ""), timeout=10)
    response.raise_for_status()
    return response.json()


def _seed(base: str) -> dict:
    product = _post(base, "/v1/products", {"name": "Pro", "type": "service"})
    _post(base, "/v1/plans", {"id": "pro-monthly", "amount": 1500, "currency": "usd",
                              "interval": "month", "product": product["id"]})
    _post(base, "/v1/plans", {"id": "team-yearly", "amount": 120000, "currency": "usd",
                              "interval": "year", "product": product["id"]})
    ids = {}
    for name, account, plan, qty in (("Acme", "acme", "pro-monthly", 3), ("Acme EU", "acme", "team-yearly", 1),
                                     ("Loner", None, "pro-monthly", 1)):
        data = {"name": name, "email": f"{name.lower().replace(' ', '')}@example.com",
                "payment_method": "pm_card_visa", "invoice_settings[default_payment_method]": "pm_card_visa"}
        if account:
            data["metadata[account_id]"] = account
        customer = _post(base, "/v1/customers", data)
        sub = _post(base, "/v1/subscriptions", {"customer": customer["id"], "items[0][plan]": plan,
                                                "items[0][quantity]": str(qty)})
        ids[name] = (customer["id"], sub["id"])
    return ids


def test_localstripe_legacy_subscriptions_are_synced_and_linked(localstripe, sqlite_store):
    ids = _seed(localstripe)
    api = StripeApi.connect(LOCALSTRIPE_KEY, localstripe, max_rps=100)
    seen: list[set[str]] = []
    report = run_sync(sqlite_store, api, SourceConfig(contacts=ContactsConfig()), full=True, now=NOW,
                      on_changed=lambda contacts, at: seen.append(contacts))

    assert report.mode == "full" and report.customers_changed == 3 and report.subscriptions_changed == 3
    assert report.quarantined == []
    with sqlite_store.session() as s:
        sub = s.get(StripeSubscription, ("default", ids["Acme"][1]))
        assert sub.api_shape == "legacy"
        assert sub.status == "active" and sub.currency == "usd"
        assert sub.raw["plan"]["id"] == "pro-monthly" and sub.raw["quantity"] == 3
        assert sub.current_period_end == datetime.fromtimestamp(sub.raw["current_period_end"], UTC)
        items = s.scalars(select(SubscriptionItem).where(SubscriptionItem.subscription_id == sub.id)).all()
        assert [(i.price_id, i.quantity) for i in items] == [("pro-monthly", 3)]
        assert items[0].current_period_end == sub.current_period_end
        assert {p.id for p in s.scalars(select(StripePrice))} == {"pro-monthly", "team-yearly"}
        customers = {c.id: c.contact_id for c in s.scalars(select(StripeCustomer))}
        assert customers[ids["Acme"][0]] == customers[ids["Acme EU"][0]] == "acme"
        assert customers[ids["Loner"][0]] is None
        contact = s.get(Contact, "acme")
        assert contact.source == "stripe" and contact.type == "account"
    assert set().union(*seen) == {"acme"}


def test_localstripe_cancellation_is_read_from_events(localstripe, sqlite_store):
    ids = _seed(localstripe)
    api = StripeApi.connect(LOCALSTRIPE_KEY, localstripe, max_rps=100)
    config = SourceConfig()
    run_sync(sqlite_store, api, config, full=True, now=NOW)
    response = httpx.delete(f"{localstripe}/v1/subscriptions/{ids['Acme'][1]}", auth=(LOCALSTRIPE_KEY, ""))
    response.raise_for_status()

    changed: list[tuple[set[str], datetime | None]] = []
    report = run_sync(sqlite_store, api, config, full=False, now=NOW,
                      on_changed=lambda contacts, at: changed.append((contacts, at)))

    assert report.mode == "incremental" and report.events_applied >= 1
    with sqlite_store.session() as s:
        assert s.get(StripeSubscription, ("default", ids["Acme"][1])).status == "canceled"
    assert any(contacts == {"acme"} and at is not None for contacts, at in changed)
    again = run_sync(sqlite_store, api, config, full=False, now=NOW)
    assert again.events_applied == 0 and again.subscriptions_changed == 0
