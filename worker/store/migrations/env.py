"""Alembic environment: runs on the engine handed over by worker.store.db (no alembic.ini)."""

from alembic import context

from worker.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = config.attributes["engine"]
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            user_module_prefix="worker.store.types.",
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
