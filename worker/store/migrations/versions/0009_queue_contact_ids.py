"""contact ids in evaluation_queue and contact_times as long as contacts.id (500 characters)

Revision ID: 0009_queue_contact_ids
Revises: 0008_applied_events
Create Date: 2026-12-02 08:30:00

A contact id is a Stripe metadata value (up to 500 characters, revision 0002); revision 0005
created these two tables with 255, so queueing or timing a contact with a longer id failed its
whole sync write on PostgreSQL (SQLite does not enforce lengths).
"""
from alembic import op
import sqlalchemy as sa

revision = '0009_queue_contact_ids'
down_revision = '0008_applied_events'
branch_labels = None
depends_on = None

TABLES = ("evaluation_queue", "contact_times")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.alter_column("contact_id", existing_type=sa.String(length=255), type_=sa.String(length=500),
                               existing_nullable=False)


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.alter_column("contact_id", existing_type=sa.String(length=500), type_=sa.String(length=255),
                               existing_nullable=False)
