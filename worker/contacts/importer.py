"""`contacts import FILE.csv` (wiring): read id,type,name,email rows, import the good ones.

Bad rows are reported as `FILE:LINE: message` (LINE is the file's physical line, header = 1)
and skipped — a NUL byte, an unterminated quote (which ends the file at its line), a row csv
cannot read; good rows are streamed and upserted as contacts (source 'import') in batches of
BATCH_SIZE, one transaction each, so a large file neither sits in memory nor is all or nothing. Stored Stripe customers that
were unlinked because their metadata id named no contact are linked to the imported contacts.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from worker.errors import ConfigError
from worker.rules.model import ContactsConfig
from worker.store.db import Store
from worker.store.evaluation_queue import queue_contacts
from worker.store.models import Contact
from worker.sync.bulk import rows_in, upsert
from worker.sync.linking import relink_unlinked

COLUMNS = ("id", "type", "name", "email")
TYPES = ("account", "user")
MAX_ID = 500  # a contact id is a Stripe metadata value: up to 500 characters
BATCH_SIZE = 2000
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class ContactRow:
    line: int
    id: str
    type: str
    name: str | None
    email: str | None


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    linked_contacts: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)


def read_contacts_csv(path: Path) -> tuple[list[ContactRow], list[str]]:
    """The good rows and one `FILE:LINE: message` per bad row (the whole file in memory: for
    tests and small files; `import_csv` streams)."""
    rows: list[ContactRow] = []
    problems: list[str] = []
    for batch in iter_contacts_csv(path, problems):
        rows += batch
    return rows, problems


def iter_contacts_csv(path: Path, problems: list[str], batch_size: int = BATCH_SIZE) -> Iterator[list[ContactRow]]:
    """The good rows in batches of `batch_size`, streamed; each bad row appends a
    `FILE:LINE: message` to `problems`. An unterminated quote ends the file there (everything
    after it would be one field) with a problem at the line where the quote opened."""
    try:
        # bytes that are not UTF-8 become lone surrogates: a problem at their row, not the file's end
        handle = open(path, newline="", encoding="utf-8-sig", errors="surrogateescape")
    except OSError as exc:
        raise ConfigError(f"Cannot read {path} ({exc.strerror or type(exc).__name__}).",
                          fix="Check the path and its permissions.") from None
    with handle:
        yield from _batches(csv.DictReader(handle, strict=True), path.name, problems, batch_size)


def _batches(reader: csv.DictReader, name: str, problems: list[str], size: int) -> Iterator[list[ContactRow]]:
    try:
        fieldnames = reader.fieldnames
    except csv.Error as exc:
        raise ConfigError(f"{name}:1: the header is not readable CSV ({exc}).",
                          fix="The first line must name the columns: id,type,name,email.") from None
    header = [h.strip().lower() for h in (fieldnames or [])]
    if any(not _is_utf8(h) for h in header):
        raise ConfigError(f"{name}:1: the header is not UTF-8 text.", fix="Save the CSV as UTF-8 and import it again.")
    missing = [c for c in ("id", "type") if c not in header]
    if missing:
        raise ConfigError(f"{name}:1: the header has no {' and no '.join(missing)} column.",
                          fix="The first line must name the columns: id,type,name,email.")
    reader.fieldnames = header
    batch: list[ContactRow] = []
    seen: dict[str, int] = {}
    for line, record in _records(reader, name, problems):
        problem, row = _check(record, line, seen)
        if problem:
            problems.append(f"{name}:{line}: {problem}")
            continue
        seen[row.id] = line
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _records(reader: csv.DictReader, name: str, problems: list[str]) -> Iterator[tuple[int, dict]]:
    """(first physical line, record) per row; a row csv cannot read is a problem at its line."""
    start = reader.line_num + 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "end of data" in str(exc) or reader.line_num < start:
                problems.append(f"{name}:{start}: a quoted field starts on this line and is never closed; "
                                "add the closing \" (the rest of the file was not read)")
                return
            problems.append(f"{name}:{start}: not readable CSV ({exc}); quote fields that hold commas, "
                            "quotes or line breaks")
            start = reader.line_num + 1
            continue
        line, start = start, reader.line_num + 1
        yield line, record


def _check(record: dict, line: int, seen: dict[str, int]) -> tuple[str | None, ContactRow | None]:
    if None in record:
        return "the row has more fields than the header", None
    values = {c: (record.get(c) or "").strip() for c in COLUMNS}
    if any("\x00" in v for v in values.values()):
        return "the row holds a NUL byte; remove it (the file may not be text)", None
    if not all(_is_utf8(v) for v in values.values()):
        return "the row is not UTF-8 text; save the file as UTF-8", None
    if not values["id"]:
        return "the id is empty", None
    if len(values["id"]) > MAX_ID:
        return f"the id is longer than {MAX_ID} characters", None
    if values["id"] in seen:
        return f"the id {values['id']!r} was already given on line {seen[values['id']]}", None
    if values["type"] not in TYPES:
        return f"the type {values['type']!r} is not one of account, user", None
    if values["email"] and not _EMAIL.match(values["email"]):
        return f"the email {values['email']!r} is not an email address", None
    if len(values["email"]) > 320:
        return "the email is longer than 320 characters", None
    if len(values["name"]) > 500:
        return "the name is longer than 500 characters", None
    return None, ContactRow(line, values["id"], values["type"], values["name"] or None, values["email"] or None)


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def import_contacts(store: Store, rows: Iterable[ContactRow] | Iterable[list[ContactRow]], now: datetime,
                    contacts_config: ContactsConfig | None) -> ImportResult:
    """Upsert the rows (a list, or batches of them) as contacts, one transaction per batch, and
    link waiting Stripe customers at the end. A batch costs three statements whatever its size."""
    result = ImportResult()
    imported: list[str] = []
    for batch in _as_batches(rows):
        with store.session() as session:
            _write_batch(session, batch, now, result)
        imported += [row.id for row in batch]
    if contacts_config is not None and imported:
        with store.session() as session:
            result.linked_contacts = relink_unlinked(session, contacts_config, imported)
            queue_contacts(session, result.linked_contacts, now)
    return result


def import_csv(store: Store, path: Path, now: datetime, contacts_config: ContactsConfig | None,
               batch_size: int = BATCH_SIZE) -> tuple[ImportResult, list[str]]:
    """Stream `path` into the store in batches; (result, `FILE:LINE: message` per bad row)."""
    problems: list[str] = []
    result = import_contacts(store, iter_contacts_csv(path, problems, batch_size), now, contacts_config)
    return result, problems


def _as_batches(rows: Iterable) -> Iterator[list[ContactRow]]:
    batch: list[ContactRow] = []
    for item in rows:
        if isinstance(item, list):
            yield item
            continue
        batch.append(item)
        if len(batch) >= BATCH_SIZE:
            yield batch
            batch = []
    if batch:
        yield batch


def _write_batch(session, batch: list[ContactRow], now: datetime, result: ImportResult) -> None:  # noqa: ANN001
    existing = {row[0] for start in range(0, len(batch), 500)
                for row in rows_in(session, "SELECT id FROM contacts WHERE id IN ({ids})",
                                   [r.id for r in batch[start:start + 500]])}
    rows = [{"id": r.id, "type": r.type, "name": r.name, "email": r.email, "source": "import",
             "created_at": now, "updated_at": now} for r in batch]
    # an existing contact keeps its source and creation time; the rest is the file's
    upsert(session, Contact.__table__, rows, keep=("source", "created_at"))
    queue_contacts(session, [r.id for r in batch], now)  # the next evaluation pass looks at them
    updated = sum(1 for r in batch if r.id in existing)
    result.created += len(batch) - updated
    result.updated += updated
