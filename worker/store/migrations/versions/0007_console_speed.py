"""console speed at 100,000 contacts (issue #17): contact_state.mrr_sort/mrr_fx with their
indexes, and on PostgreSQL trigram indexes for the accounts search when pg_trgm is available

Revision ID: 0007_console_speed
Revises: 0006_accounts
Create Date: 2026-12-02 06:10:00

`mrr_sort` starts empty (`mrr_fx` NULL): the console fills it on first use
(worker.compute.mrr_sort.refresh) and every snapshot written after this writes it.

The trigram indexes make `name`/`email`/contact id substring search an index lookup
(worker.console.search). CREATE EXTENSION needs a role allowed to create it (a superuser,
or the database owner for a trusted extension such as pg_trgm on PostgreSQL 13+); when it
cannot be created the migration goes on without them and the search scans the contacts
table instead (correct, slower at size).
"""
from alembic import op
import sqlalchemy as sa

revision = '0007_console_speed'
down_revision = '0006_accounts'
branch_labels = None
depends_on = None

TRIGRAM_INDEXES = {
    "ix_contacts_name_trgm": "lower(name)",
    "ix_contacts_email_trgm": "lower(email)",
    "ix_contacts_id_trgm": "id",
}


def upgrade() -> None:
    with op.batch_alter_table('contact_state') as batch:
        batch.add_column(sa.Column('mrr_sort', sa.Numeric(precision=38, scale=12), nullable=True))
        batch.add_column(sa.Column('mrr_fx', sa.String(length=16), nullable=True))
    op.create_index('ix_contact_state_mrr_sort', 'contact_state', ['mrr_sort', 'contact_id', 'renewal_date'],
                    unique=False)
    op.create_index('ix_contact_state_mrr_sort_desc', 'contact_state', [sa.text('mrr_sort DESC'), 'contact_id',
                                                                              'renewal_date'], unique=False)
    op.create_index('ix_contact_state_stage_mrr_sort_desc', 'contact_state',
                    ['stage', sa.text('mrr_sort DESC'), 'contact_id', 'renewal_date'], unique=False)
    op.create_index('ix_contact_state_mrr_fx', 'contact_state', ['mrr_fx'], unique=False)
    bind = op.get_bind()
    if bind.dialect.name == "postgresql" and _trigram_available(bind):
        for name, expression in TRIGRAM_INDEXES.items():
            op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON contacts USING gin ({expression} gin_trgm_ops)")


def _trigram_available(bind) -> bool:  # noqa: ANN001
    """pg_trgm installed now (or already): False, not an error, when this role may not create it."""
    if bind.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'").first():
        return True
    if not bind.exec_driver_sql("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'").first():
        return False
    savepoint = bind.begin_nested()
    try:
        bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except sa.exc.DBAPIError:
        savepoint.rollback()
        return False
    savepoint.commit()
    return True


def downgrade() -> None:
    for name in TRIGRAM_INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    op.drop_index('ix_contact_state_mrr_fx', table_name='contact_state')
    op.drop_index('ix_contact_state_stage_mrr_sort_desc', table_name='contact_state')
    op.drop_index('ix_contact_state_mrr_sort_desc', table_name='contact_state')
    op.drop_index('ix_contact_state_mrr_sort', table_name='contact_state')
    with op.batch_alter_table('contact_state') as batch:
        batch.drop_column('mrr_fx')
        batch.drop_column('mrr_sort')
