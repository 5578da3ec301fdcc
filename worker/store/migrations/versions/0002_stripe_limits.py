"""widen contact ids, emails and occurrence keys to what Stripe allows (issue 15)

A contact id is a Stripe metadata value (up to 500 characters) and was String(255); a Stripe
email may hold 512 characters (was 320); an occurrence key embeds a contact id (was 512).
SQLite does not enforce VARCHAR lengths, so only PostgreSQL needs the change.

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

WIDENED = (
    ("contacts", "id", 255, 500, False),
    ("contacts", "email", 320, 512, True),
    ("stripe_customers", "contact_id", 255, 500, True),
    ("stripe_customers", "email", 320, 512, True),
    ("contact_state", "contact_id", 255, 500, False),
    ("contact_history", "contact_id", 255, 500, False),
    ("subscription_history", "contact_id", 255, 500, True),
    ("firings", "contact_id", 255, 500, False),
    ("firings", "occurrence", 512, 1024, False),
    ("deliveries", "contact_id", 255, 500, False),
)


def _alter(to_new: bool) -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table, column, old, new, nullable in WIDENED:
        op.alter_column(table, column, existing_type=sa.String(old if to_new else new),
                        type_=sa.String(new if to_new else old), existing_nullable=nullable)


def upgrade() -> None:
    _alter(True)


def downgrade() -> None:
    _alter(False)
