"""evaluation scope: contact_times (indexed trigger dates) and evaluation_queue (issue #18)

Revision ID: 0005_scope
Revises: 0004_console
Create Date: 2026-12-02 03:00:00
"""
from alembic import op
import sqlalchemy as sa
import worker.store.types

revision = '0005_scope'
down_revision = '0004_console'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('contact_times',
    sa.Column('contact_id', sa.String(length=255), nullable=False),
    sa.Column('trigger', sa.String(length=32), nullable=False),
    sa.Column('at', worker.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ),
    sa.PrimaryKeyConstraint('contact_id', 'trigger', 'at')
    )
    op.create_index('ix_contact_times_trigger_at', 'contact_times', ['trigger', 'at'], unique=False)
    op.create_table('evaluation_queue',
    sa.Column('contact_id', sa.String(length=255), nullable=False),
    sa.Column('queued_at', worker.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('contact_id')
    )


def downgrade() -> None:
    op.drop_table('evaluation_queue')
    op.drop_index('ix_contact_times_trigger_at', table_name='contact_times')
    op.drop_table('contact_times')
