"""`stripe-lifecycle contacts import FILE.csv`: import the company's own contacts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from worker.cli.app import bootstrap, contacts_app, err, guarded, out
from worker.errors import ConfigError, LifecycleError


@contacts_app.command("import")
@guarded
def import_(file: Path = typer.Argument(..., help="CSV with id,type,name,email columns")) -> None:
    """Import the company's own contacts from a CSV file (id,type,name,email).

    Bad rows are listed as FILE:LINE: message and skipped (exit 1); good rows are imported and
    waiting Stripe customers whose metadata names them are linked.
    """
    from worker.contacts.importer import import_csv
    from worker.logs import redact
    from worker.rules.loader import load_rules
    from worker.store.db import open_store

    settings = bootstrap()
    now = datetime.now(UTC)
    if not file.is_file():
        raise ConfigError(f"Cannot read {file} (no such file).", fix="Check the path and its permissions.")
    store = open_store(settings.database_url.get_secret_value())
    try:
        contacts_config = load_rules(settings.rules_dir).source.contacts
    except LifecycleError as exc:
        contacts_config = None
        err.print(f"Note: Stripe customers were not linked, the rules could not be read: {redact(str(exc))}",
                  markup=False, highlight=False)
    try:
        result, problems = import_csv(store, file, now, contacts_config)
    finally:
        store.engine.dispose()
    for line in problems:
        err.print(redact(line), markup=False, highlight=False)
    count = result.created + result.updated
    out.print(f"Imported {count} contact{'s' if count != 1 else ''} ({result.created} new, "
              f"{result.updated} updated); {len(problems)} bad row{'s' if len(problems) != 1 else ''} skipped; "
              f"linked Stripe customers to {len(result.linked_contacts)} contact"
              f"{'s' if len(result.linked_contacts) != 1 else ''}.", markup=False, highlight=False)
    if problems:
        raise typer.Exit(1)
