"""The migrations and the models agree, on SQLite and PostgreSQL, and times stay UTC."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from worker.errors import ConfigError
from worker.store.db import current_revision, head_revision, open_store
from worker.store.models import OPTIONAL_INDEXES, POSTGRESQL_INDEXES, Base, Contact


def _modelled(name, type_, parent_names) -> bool:  # noqa: ANN001
    return not (type_ == "index" and name in (*OPTIONAL_INDEXES, *POSTGRESQL_INDEXES))


def test_migrated_schema_matches_the_models(store):
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False, "include_name": _modelled})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
    assert current_revision(store.engine) == head_revision(store.engine)


def test_datetimes_come_back_timezone_aware_utc(store):
    local = datetime(2026, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    with store.session() as s:
        s.add(Contact(id="c1", type="account", source="import", created_at=local, updated_at=local))
    with store.session() as s:
        got = s.get(Contact, "c1").created_at
    assert got.tzinfo is not None and got.utcoffset() == timedelta(0)
    assert got == local


def test_naive_datetimes_are_refused(sqlite_store):
    with pytest.raises(Exception, match="naive datetime"):
        with sqlite_store.session() as s:
            s.add(Contact(id="c1", type="account", source="import",
                          created_at=datetime(2026, 1, 1), updated_at=datetime(2026, 1, 1)))


def test_several_processes_migrating_at_once_all_succeed(database_url):
    errors: list[BaseException] = []

    def start() -> None:
        try:
            open_store(database_url).engine.dispose()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_unreachable_database_is_a_config_error_naming_database_url():
    with pytest.raises(ConfigError) as info:
        open_store("postgresql://lifecycle:hunter2secret@127.0.0.1:1/nowhere")
    text = str(info.value)
    assert "DATABASE_URL" in text and "hunter2secret" not in text
