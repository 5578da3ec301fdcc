"""Bulk upsert for the Stripe mirror (adapter over SQLAlchemy's connection).

A backfill writes tens of thousands of rows whose `raw` JSON is large; SQLAlchemy's per-row
parameter processing and stdlib `json` dominate that cost. `upsert` builds one
`INSERT … ON CONFLICT (pk) DO UPDATE` per table and column set, converts each value with the
column type's own bind processor (so UTC datetimes and booleans are stored exactly as the ORM
stores them) except JSON, which orjson serialises. On SQLite the batch goes to the driver's
`executemany`; on PostgreSQL it is one statement over arrays, one per column (`_pg_statement`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import JSON, Boolean, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from worker.store import json_codec
from worker.store.json_codec import dumps
from worker.store.types import UTCDateTime

Row = dict[str, Any]


def loads(value: Any) -> Any:
    """A JSON column read through the driver: text on SQLite (parsed with orjson), already
    parsed on PostgreSQL."""
    return json_codec.loads(value) if isinstance(value, (str, bytes)) else value


def _json_dumper(value: Any) -> str | None:
    return None if value is None else dumps(value)


@lru_cache(maxsize=1 << 16)  # stamps and period ends repeat across batches (a few MB at most)
def _sqlite_utc(value: datetime | None) -> str | None:
    """What UTCDateTime + SQLite's DATETIME store ('YYYY-MM-DD HH:MM:SS.ffffff', UTC), without
    their per-value call layers; `isoformat` is one C call where seven formatted fields cost
    more than the orjson of the row's JSON (a backfill converts several per subscription)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: pass a timezone-aware UTC datetime")
    if value.tzinfo is not UTC and value.utcoffset():
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]


def _processor(column_type: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    if _is_json(column_type, dialect):
        return _json_dumper
    if isinstance(column_type, UTCDateTime) and dialect.name == "sqlite":
        return _sqlite_utc
    if isinstance(column_type, Boolean) and dialect.name == "sqlite":
        return None  # the driver binds a bool as the integer 1/0, what SQLAlchemy's processor stores
    return column_type._cached_bind_processor(dialect)


def _is_json(column_type: Any, dialect: Dialect) -> bool:
    return isinstance(column_type.dialect_impl(dialect), JSON) or isinstance(column_type, JSON)


def _row_builder(columns: tuple[str, ...], processors: tuple) -> Callable[[list[Row]], list[tuple]]:
    """rows -> parameter tuples, as one generated comprehension per statement.

    A generic loop (one generator and one call per value) cost more CPU than SQLite's own
    insert work; the generated code reads each column by name, skips the processor for None,
    and builds each tuple in one expression. Only column names of our own tables go into it.
    """
    env: dict[str, Any] = {}
    values = []
    for index, (name, processor) in enumerate(zip(columns, processors)):
        if processor is None:
            values.append(f"r[{name!r}]")
        else:
            env[f"p{index}"] = processor
            values.append(f"(None if (v{index} := r[{name!r}]) is None else p{index}(v{index}))")
    source = f"def build(rows):\n    return [({', '.join(values)},) for r in rows]\n"
    exec(compile(source, f"<bulk row builder {columns}>", "exec"), env)  # noqa: S102
    return env["build"]


@lru_cache(maxsize=64)
def _statement(table: Table, columns: tuple[str, ...], dialect: Dialect, update: bool,
               keep: tuple[str, ...] = ()) -> tuple[str, Callable]:
    """SQLite: `INSERT … VALUES (?, …) ON CONFLICT …`, run as the driver's executemany."""
    quote = dialect.identifier_preparer.quote
    processors = tuple(_processor(table.c[name].type, dialect) for name in columns)
    sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
           f"VALUES ({', '.join('?' for _ in columns)}) {_on_conflict(table, columns, dialect, update, keep)}")
    return sql, _row_builder(columns, processors)


def _on_conflict(table: Table, columns: tuple[str, ...], dialect: Dialect, update: bool,
                 keep: tuple[str, ...]) -> str:
    """`ON CONFLICT (primary key) DO UPDATE SET` every given column but the key and `keep`
    ones (`DO NOTHING` with `update=False`)."""
    quote = dialect.identifier_preparer.quote
    keys = [c.name for c in table.primary_key.columns]
    updates = [c for c in columns if c not in keys and c not in keep] if update else []
    action = ("DO UPDATE SET " + ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in updates)
              if updates else "DO NOTHING")
    return f"ON CONFLICT ({', '.join(quote(k) for k in keys)}) {action}"


def upsert(session: Session, table: Table, rows: list[Row], *, update: bool = True,
           keep: tuple[str, ...] = ()) -> None:
    """Insert `rows` (all with the same keys, table column names), updating existing ones
    except their `keep` columns (or leaving them alone with `update=False`)."""
    if not rows:
        return
    connection = session.connection()
    columns = tuple(rows[0])
    if connection.dialect.name == "postgresql":
        sql, build = _pg_statement(table, columns, connection.dialect, update, keep)
        values = build(_last_per_key(table, rows))
        connection.exec_driver_sql(sql, tuple(list(column) for column in zip(*values)))
        return
    sql, build = _statement(table, columns, connection.dialect, update, keep)
    connection.exec_driver_sql(sql, build(rows))


@lru_cache(maxsize=64)
def _pg_statement(table: Table, columns: tuple[str, ...], dialect: Dialect, update: bool,
                  keep: tuple[str, ...] = ()) -> tuple[str, Callable]:
    """PostgreSQL: one `INSERT … SELECT … FROM unnest(<one array per column>)` per batch.

    Row by row (the driver's pipelined executemany) PostgreSQL started an executor per row:
    its CPU per backfilled customer matched the whole Python side's (issue #18). As arrays the
    batch is one statement whose text never changes, so it is also prepared once. JSON goes as
    text and is cast per row; every other column as an array of its own type. The arrays are
    sent in binary (`%b`): as text every quote inside the JSON was escaped, 66 ms of CPU per
    500 subscriptions against 0.7 ms."""
    quote = dialect.identifier_preparer.quote
    processors: list[Callable[[Any], Any] | None] = []
    arrays, selected = [], []
    for index, name in enumerate(columns):
        column_type = table.c[name].type
        processors.append(_processor(column_type, dialect))
        if _is_json(column_type, dialect):
            arrays.append("CAST(%b AS TEXT[])")
            selected.append(f"CAST(v{index} AS JSONB)")
        else:
            arrays.append(f"CAST(%b AS {column_type.compile(dialect=dialect)}[])")
            selected.append(f"v{index}")
    aliases = ", ".join(f"v{index}" for index in range(len(columns)))
    sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
           f"SELECT {', '.join(selected)} FROM unnest({', '.join(arrays)}) AS batch({aliases}) "
           f"{_on_conflict(table, columns, dialect, update, keep)}")
    return sql, _row_builder(columns, tuple(processors))


def _last_per_key(table: Table, rows: list[Row]) -> list[Row]:
    """One row per primary key, the last given (as row-by-row upserts would leave it): one
    statement may not update the same row twice."""
    keys = [c.name for c in table.primary_key.columns]
    by_key = {tuple(row[k] for k in keys): row for row in rows}
    return rows if len(by_key) == len(rows) else list(by_key.values())


def rows_in(session: Session, sql: str, ids: list[str], *, account: str | None = None) -> list[Any]:
    """Run `sql`, plain SQL with `{ids}` where the list of ids goes, through the driver.

    For a batch of 500 ids SQLAlchemy's expanding parameter and result layers cost about as
    much as SQLite's own 500 lookups (≈ 1 ms), three times per batch. Pending ORM changes (a
    tombstone, a quarantine entry) are flushed first, as the ORM's autoflush would. With
    `account`, the statement's `{account}` (written before `{ids}`) binds that account's name.
    """
    if not ids:
        return []
    session.flush()
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        return _rows_in_array(connection, sql, ids, account)
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    if account is None:
        result = connection.exec_driver_sql(sql.format(ids=", ".join([mark] * len(ids))), tuple(ids))
    else:  # `{account}` (before `{ids}` in the statement) is that account's name
        result = connection.exec_driver_sql(sql.format(account=mark, ids=", ".join([mark] * len(ids))),
                                            (account, *ids))
    return result.all() if result.returns_rows else []


def _rows_in_array(connection: Any, sql: str, ids: list[str], account: str | None) -> list[Any]:
    """PostgreSQL: `x IN ({ids})` as `x = ANY(%s)` with the ids as one array parameter, so the
    statement text is the same for every batch (the driver parses and prepares it once; a
    500-mark IN list was parsed anew each time, a tenth of a backfill's CPU)."""
    if "IN ({ids})" not in sql:
        raise ValueError("rows_in statements name their ids as `IN ({ids})`")
    text = sql.replace("IN ({ids})", "= ANY(CAST({ids} AS TEXT[]))")
    marks = {"ids": "%b"} if account is None else {"ids": "%b", "account": "%s"}
    params = (list(ids),) if account is None else (account, list(ids))
    result = connection.exec_driver_sql(text.format(**marks), params)
    return result.all() if result.returns_rows else []
