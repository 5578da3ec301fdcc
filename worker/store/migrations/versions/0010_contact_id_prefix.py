"""contact id prefix search through a btree (varchar_pattern_ops) instead of a trigram index

Revision ID: 0010_contact_id_prefix
Revises: 0009_queue_contact_ids
Create Date: 2026-12-02 09:40:00

Revision 0007 put a pg_trgm GIN index on the bare `contacts.id` for the console's contact id
prefix search. pg_trgm also serves `=` (pg_trgm 1.4+), and PostgreSQL's planner then chose it
for ordinary lookups by id: it estimated 0.8 per lookup where each took about 8 ms (every id
shares the trigrams of its common prefix), so the sync's `id = ANY(<500 ids>)` took 4 s per
batch and a 30,000-customer backfill stalled (issue #18). A btree with `varchar_pattern_ops`
serves `id LIKE 'prefix%'` whatever the database collation, needs no extension, and costs an
equality lookup what a btree costs. PostgreSQL only: SQLite's LIKE does not use such an index.
"""
from alembic import op

revision = '0010_contact_id_prefix'
down_revision = '0009_queue_contact_ids'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_contacts_id_trgm")
    op.execute("CREATE INDEX IF NOT EXISTS ix_contacts_id_prefix ON contacts (id varchar_pattern_ops)")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_contacts_id_prefix")
    if bind.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'").first():
        op.execute("CREATE INDEX IF NOT EXISTS ix_contacts_id_trgm ON contacts USING gin (id gin_trgm_ops)")
