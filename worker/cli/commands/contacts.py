"""`stripe-lifecycle contacts import FILE.csv`: import the company's own contacts."""

from __future__ import annotations

from pathlib import Path

import typer

from worker.cli.app import bootstrap, command_runtime, contacts_app, err, guarded, out
from worker.errors import LifecycleError


@contacts_app.command("import")
@guarded
def import_(file: Path = typer.Argument(..., help="CSV with id,type,name,email columns")) -> None:
    """Import the company's own contacts from a CSV file (id,type,name,email).

    Bad rows are listed as FILE:LINE: message and skipped (exit 1); good rows are imported and
    waiting Stripe customers whose metadata names them are linked.
    """
    from worker.contacts.importer import import_contacts, read_contacts_csv
    from worker.logs import redact

    runtime = command_runtime(bootstrap())
    now = runtime.clock()
    rows, problems = read_contacts_csv(file)
    try:
        contacts_config = runtime.rules().source.contacts
    except LifecycleError as exc:
        contacts_config = None
        err.print(f"Note: Stripe customers were not linked, the rules could not be read: {redact(str(exc))}",
                  markup=False, highlight=False)
    try:
        result = import_contacts(runtime.store(), rows, now, contacts_config)
    finally:
        runtime.close()
    for line in problems:
        err.print(redact(line), markup=False, highlight=False)
    out.print(f"Imported {len(rows)} contact{'s' if len(rows) != 1 else ''} ({result.created} new, "
              f"{result.updated} updated); {len(problems)} bad row{'s' if len(problems) != 1 else ''} skipped; "
              f"linked Stripe customers to {len(result.linked_contacts)} contact"
              f"{'s' if len(result.linked_contacts) != 1 else ''}.", markup=False, highlight=False)
    if problems:
        raise typer.Exit(1)
