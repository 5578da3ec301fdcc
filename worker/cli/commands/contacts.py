"""`stripe-lifecycle contacts import FILE.csv` (not built yet: issue #3)."""

from __future__ import annotations

from pathlib import Path

import typer

from worker.cli.app import bootstrap, contacts_app, guarded
from worker.errors import NotBuiltYet


@contacts_app.command("import")
@guarded
def import_contacts(file: Path = typer.Argument(..., help="CSV with id,type,name,email columns")) -> None:
    """Import the company's own contacts from a CSV file (id,type,name,email)."""
    bootstrap()
    raise NotBuiltYet("`stripe-lifecycle contacts import` is not built yet (issue #3).")
