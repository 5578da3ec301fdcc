"""Database-wide named locks shared by every process using one database (store adapter).

PostgreSQL: a session advisory lock held on its own connection. SQLite: an exclusive `flock`
on a file beside the database file (an in-memory database is private to one process, so it
needs none). `wait=False` tries once and yields whether the lock was taken.
"""

from __future__ import annotations

import fcntl
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text


def _pg_key(name: str) -> int:
    return zlib.crc32(f"stripe-lifecycle:{name}".encode())


@contextmanager
def database_lock(engine: Engine, name: str, *, wait: bool = True) -> Iterator[bool]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            call = "pg_advisory_lock" if wait else "pg_try_advisory_lock"
            taken = conn.execute(text(f"SELECT {call}(:k)"), {"k": _pg_key(name)}).scalar() is not False
            try:
                yield taken
            finally:
                if taken:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _pg_key(name)})
                conn.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield True
        return
    with open(Path(f"{database}.{name}.lock"), "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
