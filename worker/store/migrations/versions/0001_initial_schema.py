"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-25 10:39:54.348188
"""
from alembic import op
import sqlalchemy as sa
import worker.store.types
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    op.create_table('contacts',
    sa.Column('id', sa.String(length=255), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=500), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('created_at', worker.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', worker.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('firings',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('automation', sa.String(length=255), nullable=False),
    sa.Column('contact_id', sa.String(length=255), nullable=False),
    sa.Column('occurrence', sa.String(length=512), nullable=False),
    sa.Column('trigger', sa.String(length=64), nullable=False),
    sa.Column('subscription_id', sa.String(length=255), nullable=True),
    sa.Column('arm', sa.String(length=16), nullable=False),
    sa.Column('fired_at', worker.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('stage', sa.String(length=64), nullable=True),
    sa.Column('mrr_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('renewal_date', worker.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('snapshot', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('goal', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('window_end', worker.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('automation', 'contact_id', 'occurrence', name='uq_firing_once')
    )
    op.create_index('ix_firings_occurrence', 'firings', ['occurrence'], unique=False)
    with op.batch_alter_table('firings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_firings_automation'), ['automation'], unique=False)
        batch_op.create_index(batch_op.f('ix_firings_contact_id'), ['contact_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_firings_fired_at'), ['fired_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_firings_window_end'), ['window_end'], unique=False)

    op.create_table('quarantine',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('object_type', sa.String(length=64), nullable=False),
    sa.Column('object_id', sa.String(length=255), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('raw', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('first_seen_at', worker.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', worker.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('resolved_at', worker.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('object_type', 'object_id')
    )
    op.create_table('stripe_prices',
    sa.Column('id', sa.String(length=255), nullable=False),
    sa.Column('product_id', sa.String(length=255), nullable=True),
    sa.Column('lookup_key', sa.String(length=255), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('raw', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('synced_at', worker.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('stripe_prices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stripe_prices_lookup_key'), ['lookup_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_stripe_prices_product_id'), ['product_id'], unique=False)

    op.create_table('stripe_products',
    sa.Column('id', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=500), nullable=True),
    sa.Column('raw', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('synced_at', worker.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('stripe_subscriptions',
    sa.Column('id', sa.String(length=255), nullable=False),
    sa.Column('customer_id', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('api_shape', sa.String(length=16), nullable=False),
    sa.Column('cancel_at', worker.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cancel_at_period_end', sa.Boolean(), nullable=False),
    sa.Column('canceled_at', worker.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_at', worker.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('trial_start', worker.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('trial_end', worker.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('current_period_end', worker.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created', worker.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('raw', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('synced_at', worker.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('changed_at', worker.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('written_at', worker.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('stripe_subscriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stripe_subscriptions_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_stripe_subscriptions_status'), ['status'], unique=False)

    op.create_table('subscription_history',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('subscription_id', sa.String(length=255), nullable=False),
    sa.Column('contact_id', sa.String(length=255), nullable=True),
    sa.Column('at', worker.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('observed_at', worker.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('current_period_end', worker.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('renewal_date', worker.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cancel_at_period_end', sa.Boolean(), nullable=False),
    sa.Column('cancel_at', worker.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('mrr_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('subscription_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscription_history_contact_id'), ['contact_id'], unique=False)
        batch_op.create_index('ix_subscription_history_sub_at', ['subscription_id', 'at'], unique=False)

    op.create_table('subscription_items',
    sa.Column('id', sa.String(length=255), nullable=False),
    sa.Column('subscription_id', sa.String(length=255), nullable=False),
    sa.Column('price_id', sa.String(length=255), nullable=True),
    sa.Column('product_id', sa.String(length=255), nullable=True),
    sa.Column('quantity', sa.BigInteger(), nullable=True),
    sa.Column('current_period_start', worker.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('current_period_end', worker.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('subscription_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscription_items_price_id'), ['price_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_subscription_items_subscription_id'), ['subscription_id'], unique=False)

    op.create_table('sync_state',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('updated_at', worker.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('contact_history',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('contact_id', sa.String(length=255), nullable=False),
    sa.Column('at', worker.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('observed_at', worker.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('stage', sa.String(length=64), nullable=True),
    sa.Column('mrr_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('mrr_native', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('renewal_date', worker.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cause', sa.String(length=128), nullable=True),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('contact_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_history_at'), ['at'], unique=False)
        batch_op.create_index('ix_contact_history_contact_at', ['contact_id', 'at'], unique=False)

    op.create_table('contact_state',
    sa.Column('contact_id', sa.String(length=255), nullable=False),
    sa.Column('stage', sa.String(length=64), nullable=True),
    sa.Column('mrr_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('renewal_date', worker.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('snapshot', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('computed_at', worker.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('mirror_key', sa.String(length=64), nullable=True),
    sa.Column('recompute_at', worker.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ),
    sa.PrimaryKeyConstraint('contact_id')
    )
    with op.batch_alter_table('contact_state', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_state_recompute_at'), ['recompute_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_contact_state_stage'), ['stage'], unique=False)

    op.create_table('deliveries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('firing_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('contact_id', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('handler', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=255), nullable=False),
    sa.Column('idempotency_key', sa.String(length=128), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', worker.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('enqueued_at', worker.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lease_until', worker.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', worker.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', worker.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['firing_id'], ['firings.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('idempotency_key')
    )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deliveries_contact_id'), ['contact_id'], unique=False)
        batch_op.create_index('ix_deliveries_due', ['state', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_deliveries_firing_id'), ['firing_id'], unique=False)

    op.create_table('outcomes',
    sa.Column('firing_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('goal', sa.String(length=32), nullable=False),
    sa.Column('window_end', worker.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('measured_at', worker.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('succeeded', sa.Boolean(), nullable=False),
    sa.Column('mrr_at_fire_minor', sa.BigInteger(), nullable=False),
    sa.Column('mrr_at_end_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('detail', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['firing_id'], ['firings.id'], ),
    sa.PrimaryKeyConstraint('firing_id')
    )
    op.create_table('stripe_customers',
    sa.Column('id', sa.String(length=255), nullable=False),
    sa.Column('contact_id', sa.String(length=255), nullable=True),
    sa.Column('name', sa.String(length=500), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('metadata', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('created', worker.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('raw', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('synced_at', worker.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('changed_at', worker.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('written_at', worker.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('stripe_customers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stripe_customers_contact_id'), ['contact_id'], unique=False)

    


def downgrade() -> None:
    op.drop_index('ix_firings_occurrence', table_name='firings')
    
    with op.batch_alter_table('stripe_customers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stripe_customers_contact_id'))

    op.drop_table('stripe_customers')
    op.drop_table('outcomes')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deliveries_firing_id'))
        batch_op.drop_index('ix_deliveries_due')
        batch_op.drop_index(batch_op.f('ix_deliveries_contact_id'))

    op.drop_table('deliveries')
    with op.batch_alter_table('contact_state', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_state_stage'))
        batch_op.drop_index(batch_op.f('ix_contact_state_recompute_at'))

    op.drop_table('contact_state')
    with op.batch_alter_table('contact_history', schema=None) as batch_op:
        batch_op.drop_index('ix_contact_history_contact_at')
        batch_op.drop_index(batch_op.f('ix_contact_history_at'))

    op.drop_table('contact_history')
    op.drop_table('sync_state')
    with op.batch_alter_table('subscription_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subscription_items_subscription_id'))
        batch_op.drop_index(batch_op.f('ix_subscription_items_price_id'))

    op.drop_table('subscription_items')
    with op.batch_alter_table('subscription_history', schema=None) as batch_op:
        batch_op.drop_index('ix_subscription_history_sub_at')
        batch_op.drop_index(batch_op.f('ix_subscription_history_contact_id'))

    op.drop_table('subscription_history')
    with op.batch_alter_table('stripe_subscriptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stripe_subscriptions_status'))
        batch_op.drop_index(batch_op.f('ix_stripe_subscriptions_customer_id'))

    op.drop_table('stripe_subscriptions')
    op.drop_table('stripe_products')
    with op.batch_alter_table('stripe_prices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stripe_prices_product_id'))
        batch_op.drop_index(batch_op.f('ix_stripe_prices_lookup_key'))

    op.drop_table('stripe_prices')
    op.drop_table('quarantine')
    with op.batch_alter_table('firings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_firings_window_end'))
        batch_op.drop_index(batch_op.f('ix_firings_fired_at'))
        batch_op.drop_index(batch_op.f('ix_firings_contact_id'))
        batch_op.drop_index(batch_op.f('ix_firings_automation'))

    op.drop_table('firings')
    op.drop_table('contacts')
    
