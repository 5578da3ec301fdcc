"""Database-wide named locks: one holder at a time, per name, on SQLite and PostgreSQL."""

from __future__ import annotations

from worker.store.db import make_engine
from worker.store.locks import database_lock


def test_a_held_lock_refuses_a_second_taker_until_released(store):
    other = make_engine(str(store.engine.url.render_as_string(hide_password=False)))  # another "process"
    try:
        with database_lock(store.engine, "sync", wait=False) as first:
            assert first
            with database_lock(other, "sync", wait=False) as second:
                assert not second
            with database_lock(other, "migrate", wait=False) as unrelated:
                assert unrelated  # locks are per name
        with database_lock(other, "sync", wait=False) as after:
            assert after
    finally:
        other.dispose()
