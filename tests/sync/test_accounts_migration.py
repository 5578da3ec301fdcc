"""Revision 0006_accounts carries a populated single-account database over (issue #18 point 6):
every mirror row and quarantine entry belongs to `default`, the sync state keeps its keys, so
the cursor and last full sync still decide the next sync; ids may then repeat across accounts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import create_engine, text

from worker.store.db import alembic_config, open_store
from worker.store.models import Quarantine, StripeCustomer, StripePrice, StripeSubscription, SubscriptionItem
from worker.sync import mirror
from worker.sync.state import load_status, needs_reconcile

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CURSOR_AT = int((NOW - timedelta(minutes=5)).timestamp())
ROWS = [
    "INSERT INTO contacts (id, type, source, created_at, updated_at) VALUES ('acme', 'account', 'stripe', :t, :t)",
    "INSERT INTO stripe_customers (id, contact_id, metadata, livemode, deleted, raw, synced_at) "
    "VALUES ('cus_1', 'acme', '{}', false, false, '{\"id\": \"cus_1\"}', :t)",
    "INSERT INTO stripe_subscriptions (id, customer_id, status, currency, api_shape, cancel_at_period_end, "
    "deleted, raw, synced_at) VALUES ('sub_1', 'cus_1', 'active', 'usd', 'current', false, false, '{}', :t)",
    "INSERT INTO subscription_items (id, subscription_id, price_id, quantity) VALUES ('si_1', 'sub_1', 'price_1', 2)",
    "INSERT INTO stripe_prices (id, currency, raw, synced_at) VALUES ('price_1', 'usd', '{}', :t)",
    "INSERT INTO stripe_products (id, name, raw, synced_at) VALUES ('prod_1', 'Pro', '{}', :t)",
    "INSERT INTO stripe_invoices (id, subscription_id, created, raw, synced_at) VALUES ('in_1', 'sub_1', :t, '{}', :t)",
    "INSERT INTO quarantine (object_type, object_id, reason, first_seen_at, last_seen_at, count) "
    "VALUES ('subscription', 'sub_bad', 'unknown status', :t, :t, 1)",
    "INSERT INTO sync_state (key, value, updated_at) VALUES "
    f"('events_cursor', '{{\"created\": {CURSOR_AT}, \"seen\": {{}}, \"read_at\": {CURSOR_AT}}}', :t)",
    "INSERT INTO sync_state (key, value, updated_at) VALUES "
    "('last_full', '{\"completed_at\": \"2026-11-20T11:00:00+00:00\"}', :t)",
]


def test_a_single_account_database_is_carried_over_to_the_default_account(database_url):
    engine = create_engine(database_url)
    try:
        command.upgrade(alembic_config(engine), "0005_scope")
        stamp = "2026-11-20 11:00:00.000000" if engine.dialect.name == "sqlite" else NOW
        with engine.begin() as conn:
            for sql in ROWS:
                conn.execute(text(sql), {"t": stamp})
    finally:
        engine.dispose()

    store = open_store(database_url)  # migrates to head
    try:
        with store.engine.connect() as conn:
            for table in ("stripe_customers", "stripe_subscriptions", "subscription_items", "stripe_prices",
                          "stripe_products", "stripe_invoices", "quarantine"):
                assert conn.execute(text(f"SELECT DISTINCT account FROM {table}")).scalars().all() == ["default"]
        with store.session() as s:
            assert s.get(StripeCustomer, ("default", "cus_1")).contact_id == "acme"
            assert s.get(SubscriptionItem, ("default", "si_1")).quantity == 2
            status = load_status(s)
            assert status.cursor_created == datetime.fromtimestamp(CURSOR_AT, tz=UTC)
            assert needs_reconcile(status, NOW) is None  # the next sync is incremental, from the old cursor
            # the same ids in another account are other objects
            mirror.write_customers(s, [{"id": "cus_1", "object": "customer", "metadata": {}, "created": 1}],
                                   _contacts(), stamp=NOW, changed_at=None, account="eu")
            mirror.write_prices(s, [{"id": "price_1", "object": "price", "currency": "eur", "product": "prod_1"}],
                                stamp=NOW, account="eu")
            mirror.quarantine(s, mirror.Quarantined("subscription", "sub_bad", "other account"), {}, NOW, "eu")
        with store.session() as s:
            assert s.get(StripeCustomer, ("default", "cus_1")).contact_id == "acme"
            assert s.get(StripeCustomer, ("eu", "cus_1")).contact_id is None
            assert s.get(StripePrice, ("default", "price_1")).currency == "usd"
            assert s.get(StripePrice, ("eu", "price_1")).currency == "eur"
            assert s.query(Quarantine).count() == 2
            assert s.get(StripeSubscription, ("eu", "sub_1")) is None
            assert load_status(s, "eu").cursor_created is None  # a new account starts with a full sync
    finally:
        store.engine.dispose()


def _contacts():  # noqa: ANN202
    from worker.rules.model import ContactsConfig

    return ContactsConfig(id_metadata_key="account_id")
