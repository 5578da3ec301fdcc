"""applied events: Stripe events a webhook re-fetch already applied, dropped by the next poll
(issue #18 point 4: one fetch per change)

Revision ID: 0008_applied_events
Revises: 0007_console_speed
Create Date: 2026-12-02 07:30:00
"""
from alembic import op
import sqlalchemy as sa
import worker.store.types

revision = '0008_applied_events'
down_revision = '0007_console_speed'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('applied_events',
    sa.Column('account', sa.String(length=32), nullable=False),
    sa.Column('event_id', sa.String(length=255), nullable=False),
    sa.Column('object_type', sa.String(length=64), nullable=False),
    sa.Column('object_id', sa.String(length=255), nullable=False),
    sa.Column('applied_at', worker.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('account', 'event_id')
    )
    op.create_index('ix_applied_events_applied_at', 'applied_events', ['applied_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_applied_events_applied_at', table_name='applied_events')
    op.drop_table('applied_events')
