"""Opening the store: engine, schema migration on start, sessions.

Every command calls `open_store`, which brings the schema to Alembic's head. Several processes
starting at once are serialised: a PostgreSQL advisory lock, or an exclusive file lock beside
a SQLite database. An unreachable database becomes a ConfigError naming DATABASE_URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

from worker.errors import ConfigError
from worker.logs import redact, register_secrets
from worker.store import json_codec
from worker.store.locks import database_lock
from worker.urls import BadUrl, check_service_url, describe_url, url_secrets

#: JSON columns are written and parsed with orjson (worker.store.json_codec).
_JSON = {"json_serializer": json_codec.dumps, "json_deserializer": json_codec.loads}

MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass
class Store:
    engine: Engine
    sessions: sessionmaker[Session]

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error."""
        with self.sessions.begin() as session:
            yield session


def make_engine(url: str) -> Engine:
    """Create the engine; for SQLite, enable WAL and a busy timeout so processes can share it."""
    register_secrets(url_secrets(url))  # whatever shape it has, its password never reaches a log
    try:
        check_service_url("DATABASE_URL", url, ("postgresql", "postgres", "sqlite"), "sqlite:///lifecycle.db")
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        reason = f" ({exc})" if isinstance(exc, BadUrl) else ""
        raise ConfigError(
            f"DATABASE_URL is not a database URL{reason}.",
            fix="Use e.g. sqlite:///lifecycle.db or postgresql+psycopg://user:password@host:5432/db.",
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        if parsed.get_backend_name() == "sqlite":
            engine = create_engine(parsed, connect_args={"timeout": 30}, **_JSON)
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        return create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": 5}, **_JSON)
    except NoSuchModuleError:
        raise ConfigError(
            f"DATABASE_URL uses an unsupported database driver ({parsed.drivername}).",
            fix="Use sqlite:///… or postgresql://….",
        ) from None


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001
    """Per-connection settings. The mirror stores ~3 KB of JSON per subscription, which on
    SQLite's default 4 KB pages leaves one row per page and a quarter of each page empty;
    16 KB pages (only takes effect when the file is created: it must come before the WAL
    switch) and a 64 MB page cache (pages are allocated as used) cut a bulk sync's CPU time
    and WAL traffic. Measured with bench/sync_backfill.py; see docs/sync.md."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA page_size=16384")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA cache_size=-65536")  # KiB: 64 MB
    cursor.execute("PRAGMA wal_autocheckpoint=10000")  # pages: ~160 MB between checkpoints (fewer fsyncs)
    cursor.close()


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine) -> None:
    """Upgrade to head, holding a lock that only one process at a time can take."""
    with database_lock(engine, "migrate"):
        if current_revision(engine) != head_revision(engine):
            command.upgrade(alembic_config(engine), "head")


def open_store(database_url: str, *, migrate_schema: bool = True) -> Store:
    """Connect, check the database answers, migrate; ConfigError with the fix if it cannot."""
    engine = make_engine(database_url)
    try:
        if migrate_schema:
            migrate(engine)  # the lock also covers SQLite's first connection (WAL switch)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except DBAPIError as exc:
        engine.dispose()
        reason = redact(str(exc.orig).strip().splitlines()[0]) if exc.orig else "no answer"
        raise ConfigError(
            f"Cannot reach the database at {describe_url(database_url, 'DATABASE_URL')} ({reason}).",
            fix="Check DATABASE_URL and that the database server is running and accepts connections.",
        ) from None
    return Store(engine=engine, sessions=sessionmaker(engine, expire_on_commit=False))
