"""several Stripe accounts: an `account` column on every Stripe mirror table and quarantine (issue #18 point 6)

Existing rows belong to the account `default` (the single STRIPE_API_KEY account); the primary
keys become (account, id) — Stripe ids are unique only within one account — and the
quarantine's unique key (account, object_type, object_id). SyncState keys need no change: the
`default` account's keys keep their names (worker.sync.accounts.state_key), so a migrated
database's cursor, backfill position and last runs carry over as they are.

SQLite cannot alter a primary key: batch mode copies each table. PostgreSQL alters in place.

Revision ID: 0006_accounts
Revises: 0005_scope
Create Date: 2026-12-02 06:00:00
"""
import warnings

from alembic import op
import sqlalchemy as sa

revision = '0006_accounts'
down_revision = '0005_scope'
branch_labels = None
depends_on = None

MIRROR = ("stripe_customers", "stripe_subscriptions", "subscription_items", "stripe_prices",
          "stripe_products", "stripe_invoices")
#: gives SQLite's unnamed constraints a name batch mode can drop
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s", "pk": "pk_%(table_name)s"}


def _account() -> sa.Column:
    return sa.Column('account', sa.String(length=32), nullable=False, server_default='default')


def upgrade() -> None:
    with warnings.catch_warnings():  # batch mode says the reflected `id` was the primary key: it was
        warnings.filterwarnings("ignore", message=".*specifies columns 'id' as primary_key=True.*")
        _upgrade()


def _upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in MIRROR:
        if postgres:
            op.add_column(table, _account())
            op.drop_constraint(f"{table}_pkey", table, type_="primary")
            op.create_primary_key(f"{table}_pkey", table, ["account", "id"])
        else:
            with op.batch_alter_table(table, recreate="always", naming_convention=NAMING) as batch:
                batch.add_column(_account(), insert_before="id")
                batch.create_primary_key(f"pk_{table}", ["account", "id"])
    if postgres:
        op.add_column("quarantine", _account())
        op.drop_constraint("quarantine_object_type_object_id_key", "quarantine", type_="unique")
    else:
        with op.batch_alter_table("quarantine", recreate="always", naming_convention=NAMING) as batch:
            batch.add_column(_account())
            batch.drop_constraint("uq_quarantine_object_type", type_="unique")
    op.create_unique_constraint("uq_quarantine_object", "quarantine", ["account", "object_type", "object_id"]) \
        if postgres else _sqlite_unique()


def _sqlite_unique() -> None:
    with op.batch_alter_table("quarantine", recreate="always") as batch:
        batch.create_unique_constraint("uq_quarantine_object", ["account", "object_type", "object_id"])


def downgrade() -> None:
    """Only a single-account database goes back (other accounts' rows would collide)."""
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in (*MIRROR, "quarantine"):
        op.execute(sa.text(f"DELETE FROM {table} WHERE account <> 'default'"))
    with op.batch_alter_table("quarantine", recreate="auto") as batch:
        batch.drop_constraint("uq_quarantine_object", type_="unique")
        batch.create_unique_constraint("quarantine_object_type_object_id_key" if postgres else None,
                                       ["object_type", "object_id"])
        batch.drop_column("account")
    for table in MIRROR:
        if postgres:
            op.drop_constraint(f"{table}_pkey", table, type_="primary")
            op.create_primary_key(f"{table}_pkey", table, ["id"])
            op.drop_column(table, "account")
        else:
            with op.batch_alter_table(table, recreate="always", naming_convention=NAMING) as batch:
                batch.drop_column("account")
                batch.create_primary_key(f"pk_{table}", ["id"])
