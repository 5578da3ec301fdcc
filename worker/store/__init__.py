"""The store: SQLAlchemy models, Alembic migrations, and the session factory (adapter layer)."""
