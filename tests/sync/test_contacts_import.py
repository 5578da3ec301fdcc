"""`contacts import FILE.csv`: good rows imported, bad rows reported with their line numbers."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from typer.testing import CliRunner

from worker.cli.main import app
from worker.contacts.importer import import_contacts, read_contacts_csv
from worker.rules.model import ContactsConfig
from worker.store.db import open_store
from worker.store.models import Contact, StripeCustomer
from worker.sync import mirror

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CSV = """id,type,name,email
acme,account,Acme Inc,ops@acme.example
,account,No Id,
bob,person,Bob,bob@example.com
globex,account,"Globex, Corp",not-an-email
acme,account,Acme again,
u-7,user,Ursula,ursula@example.com
"""


def test_bad_rows_are_reported_with_their_line_numbers(tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_text(CSV)
    rows, problems = read_contacts_csv(path)
    assert [r.id for r in rows] == ["acme", "u-7"]
    assert problems == [
        "contacts.csv:3: the id is empty",
        "contacts.csv:4: the type 'person' is not one of account, user",
        "contacts.csv:5: the email 'not-an-email' is not an email address",
        "contacts.csv:6: the id 'acme' was already given on line 2",
    ]


def test_import_creates_and_updates_contacts_and_links_waiting_customers(sqlite_store, tmp_path):
    config = ContactsConfig(create_missing=False)
    with sqlite_store.session() as s:
        result = mirror.write_customers(s, [{"id": "cus_1", "object": "customer", "metadata": {"account_id": "acme"},
                                             "created": 1}], config, stamp=NOW, changed_at=None)
        assert result.contacts == set()  # unknown id and create_missing false: unlinked
        s.add(Contact(id="u-7", type="user", name="Old", source="stripe", created_at=NOW, updated_at=NOW))
    path = tmp_path / "contacts.csv"
    path.write_text(CSV)
    result = import_contacts(sqlite_store, read_contacts_csv(path)[0], NOW, config)
    assert (result.created, result.updated, result.linked_contacts) == (1, 1, {"acme"})
    with sqlite_store.session() as s:
        assert s.get(StripeCustomer, ("default", "cus_1")).contact_id == "acme"
        assert s.get(Contact, "u-7").name == "Ursula"
        assert s.get(Contact, "acme").source == "import"


def test_cli_imports_good_rows_lists_bad_ones_and_exits_1(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    path = tmp_path / "contacts.csv"
    path.write_text(CSV)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("RULES_DIR", str(tmp_path / "no-rules"))
    result = CliRunner().invoke(app, ["contacts", "import", str(path)])
    assert result.exit_code == 1
    assert "contacts.csv:4: the type 'person' is not one of account, user" in result.output
    assert "Imported 2 contacts (2 new, 0 updated); 4 bad rows skipped" in result.output
    store = open_store(url)
    with store.session() as s:
        assert set(s.scalars(select(Contact.id))) == {"acme", "u-7"}
    store.engine.dispose()


def test_cli_names_a_missing_file_plainly(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    result = CliRunner().invoke(app, ["contacts", "import", str(tmp_path / "nope.csv")])
    assert result.exit_code == 2
    assert "Cannot read" in result.output and "Traceback" not in result.output
