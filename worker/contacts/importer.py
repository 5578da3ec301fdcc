"""`contacts import FILE.csv` (wiring): read id,type,name,email rows, import the good ones.

Bad rows are reported as `FILE:LINE: message` (LINE is the file's physical line, header = 1)
and skipped; good rows are upserted as contacts (source 'import'). Stored Stripe customers that
were unlinked because their metadata id named no contact are linked to the imported contacts.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from worker.errors import ConfigError
from worker.rules.model import ContactsConfig
from worker.store.db import Store
from worker.store.models import Contact
from worker.sync.linking import relink_unlinked

COLUMNS = ("id", "type", "name", "email")
TYPES = ("account", "user")
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
    """The good rows and one `FILE:LINE: message` per bad row."""
    try:
        handle = open(path, newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"Cannot read {path} ({exc.strerror or type(exc).__name__}).",
                          fix="Check the path and its permissions.") from None
    with handle:
        try:
            return _read(csv.DictReader(handle), path.name)
        except UnicodeDecodeError:
            raise ConfigError(f"{path} is not UTF-8 text.", fix="Save the CSV as UTF-8 and import it again.") from None
        except csv.Error as exc:
            raise ConfigError(f"{path} is not a readable CSV file ({exc}).",
                              fix="Save it as comma-separated values with an id,type,name,email header.") from None


def _read(reader: csv.DictReader, name: str) -> tuple[list[ContactRow], list[str]]:
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in ("id", "type") if c not in header]
    if missing:
        raise ConfigError(f"{name}:1: the header has no {' and no '.join(missing)} column.",
                          fix="The first line must name the columns: id,type,name,email.")
    reader.fieldnames = header
    rows: list[ContactRow] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    start = reader.line_num + 1
    for record in reader:
        line, start = start, reader.line_num + 1
        problem, row = _check(record, line, seen)
        if problem:
            problems.append(f"{name}:{line}: {problem}")
        else:
            seen[row.id] = line
            rows.append(row)
    return rows, problems


def _check(record: dict, line: int, seen: dict[str, int]) -> tuple[str | None, ContactRow | None]:
    if None in record:
        return "the row has more fields than the header", None
    values = {c: (record.get(c) or "").strip() for c in COLUMNS}
    if not values["id"]:
        return "the id is empty", None
    if len(values["id"]) > 255:
        return "the id is longer than 255 characters", None
    if values["id"] in seen:
        return f"the id {values['id']!r} was already given on line {seen[values['id']]}", None
    if values["type"] not in TYPES:
        return f"the type {values['type']!r} is not one of account, user", None
    if values["email"] and not _EMAIL.match(values["email"]):
        return f"the email {values['email']!r} is not an email address", None
    if len(values["name"]) > 500:
        return "the name is longer than 500 characters", None
    return None, ContactRow(line, values["id"], values["type"], values["name"] or None, values["email"] or None)


def import_contacts(store: Store, rows: list[ContactRow], now: datetime,
                    contacts_config: ContactsConfig | None) -> ImportResult:
    """Upsert the rows as contacts and link waiting Stripe customers; one transaction."""
    result = ImportResult()
    with store.session() as session:
        for row in rows:
            contact = session.get(Contact, row.id)
            if contact is None:
                session.add(Contact(id=row.id, type=row.type, name=row.name, email=row.email,
                                    source="import", created_at=now, updated_at=now))
                result.created += 1
            else:
                contact.type, contact.name, contact.email, contact.updated_at = row.type, row.name, row.email, now
                result.updated += 1
        session.flush()
        if contacts_config is not None:
            result.linked_contacts = relink_unlinked(session, contacts_config, [r.id for r in rows])
    return result
