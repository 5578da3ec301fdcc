"""console: audit log, indexes for the console's sorted and paged queries

Revision ID: 0004_console
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa
import worker.store.types
from sqlalchemy.dialects import postgresql

revision = '0004_console'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'audit_log',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('at', worker.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('actor', sa.String(length=255), nullable=False),
        sa.Column('action', sa.String(length=64), nullable=False),
        sa.Column('target', sa.String(length=255), nullable=False),
        sa.Column('detail', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_audit_log_at', 'audit_log', ['at'], unique=False)
    op.create_index('ix_contact_state_console', 'contact_state',
                    ['stage', 'currency', 'mrr_minor', 'renewal_date', 'contact_id'], unique=False)
    scheduled = 'NOT deleted AND (cancel_at_period_end OR cancel_at IS NOT NULL)'
    op.create_index('ix_stripe_subscriptions_cancel_scheduled', 'stripe_subscriptions', ['customer_id', 'status'],
                    unique=False, postgresql_where=sa.text(scheduled), sqlite_where=sa.text(scheduled))
    op.create_index('ix_contact_state_renewal', 'contact_state', ['renewal_date', 'contact_id'], unique=False)
    op.create_index('ix_stripe_customers_id_contact', 'stripe_customers', ['id', 'contact_id'], unique=False)
    op.create_index('ix_stripe_subscriptions_status_customer', 'stripe_subscriptions', ['status', 'customer_id'],
                    unique=False, postgresql_where=sa.text('NOT deleted'), sqlite_where=sa.text('NOT deleted'))
    op.create_index('ix_deliveries_state_id', 'deliveries', ['state', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_deliveries_state_id', table_name='deliveries')
    op.drop_index('ix_stripe_subscriptions_status_customer', table_name='stripe_subscriptions')
    op.drop_index('ix_stripe_customers_id_contact', table_name='stripe_customers')
    op.drop_index('ix_contact_state_renewal', table_name='contact_state')
    op.drop_index('ix_stripe_subscriptions_cancel_scheduled', table_name='stripe_subscriptions')
    op.drop_index('ix_contact_state_console', table_name='contact_state')
    op.drop_index('ix_audit_log_at', table_name='audit_log')
    op.drop_table('audit_log')
