"""history rows carry their source; stripe_invoices for rebuilt history

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 02:30:00
"""
from alembic import op
import sqlalchemy as sa
import worker.store.types
from sqlalchemy.dialects import postgresql

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('contact_history', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source', sa.String(length=16), server_default='observed', nullable=False))
    with op.batch_alter_table('subscription_history', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source', sa.String(length=16), server_default='observed', nullable=False))
    op.create_table('stripe_invoices',
    sa.Column('id', sa.String(length=255), nullable=False),
    sa.Column('subscription_id', sa.String(length=255), nullable=True),
    sa.Column('customer_id', sa.String(length=255), nullable=True),
    sa.Column('created', worker.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=True),
    sa.Column('raw', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('synced_at', worker.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('stripe_invoices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stripe_invoices_subscription_id'), ['subscription_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('stripe_invoices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stripe_invoices_subscription_id'))
    op.drop_table('stripe_invoices')
    with op.batch_alter_table('subscription_history', schema=None) as batch_op:
        batch_op.drop_column('source')
    with op.batch_alter_table('contact_history', schema=None) as batch_op:
        batch_op.drop_column('source')
