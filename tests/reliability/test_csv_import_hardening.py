"""Item 8 of issue 15: `contacts import` — an unterminated quote and a NUL byte are clear
FILE:LINE problems (never a silent swallow or "This is a bug"), and the file is streamed in
batches, one transaction each (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from typer.testing import CliRunner

from worker.cli.main import app
from worker.contacts import importer
from worker.contacts.importer import import_csv, read_contacts_csv
from worker.store.models import Contact

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_an_unterminated_quote_is_a_problem_at_the_line_it_opens(tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_text('id,type,name\nacme,account,Acme\nglobex,account,"Globex, Corp\nu-7,user,Ursula\n')
    rows, problems = read_contacts_csv(path)
    assert [r.id for r in rows] == ["acme"]
    assert len(problems) == 1 and problems[0].startswith("contacts.csv:3: a quoted field starts on this line")


def test_a_nul_byte_is_a_problem_at_its_line_and_the_other_rows_import(tmp_path, store):
    path = tmp_path / "contacts.csv"
    path.write_bytes(b"id,type,name\nacme,account,Ac\x00me\nu-7,user,Ursula\n")
    result, problems = import_csv(store, path, NOW, None)
    assert problems == ["contacts.csv:2: the row holds a NUL byte; remove it (the file may not be text)"]
    assert (result.created, result.updated) == (1, 0)
    with store.session() as session:
        assert list(session.scalars(select(Contact.id))) == ["u-7"]


def test_the_cli_reports_a_nul_byte_plainly(tmp_path, monkeypatch):
    path = tmp_path / "contacts.csv"
    path.write_bytes(b"id,type,name\nacme,account,Ac\x00me\nu-7,user,Ursula\n")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("RULES_DIR", str(tmp_path / "no-rules"))
    result = CliRunner().invoke(app, ["contacts", "import", str(path)])
    assert result.exit_code == 1, result.output
    assert "contacts.csv:2: the row holds a NUL byte" in result.output
    assert "bug" not in result.output and "Traceback" not in result.output


def test_a_large_file_is_streamed_in_batches_each_committed(tmp_path, store, monkeypatch):
    path = tmp_path / "contacts.csv"
    path.write_text("id,type\n" + "".join(f"c{n},account\n" for n in range(25)) + "c3,account\n")
    batches = []
    write = importer._write_batch

    def counting(session, batch, now, result):  # noqa: ANN001
        batches.append(len(batch))
        with store.session() as other:  # every earlier batch is committed already
            assert other.scalar(select(func.count()).select_from(Contact)) == sum(batches[:-1])
        write(session, batch, now, result)

    monkeypatch.setattr(importer, "_write_batch", counting)
    result, problems = import_csv(store, path, NOW, None, batch_size=10)
    assert batches == [10, 10, 5]
    assert result.created == 25 and problems == ["contacts.csv:27: the id 'c3' was already given on line 5"]
