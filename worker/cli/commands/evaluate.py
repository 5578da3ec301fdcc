"""`stripe-lifecycle evaluate [--now ISO8601] [--dry-run] [--json]`."""

from __future__ import annotations

import json
from collections import Counter

import typer
from rich.table import Table

from worker.automations.service import run_evaluation
from worker.cli.app import app, bootstrap, guarded, out, parse_now

#: Rows of the fired table; a first pass over a large account fires thousands (the rest are
#: counted per automation, and `--json` lists every one).
TABLE_ROWS = 50

@app.command()
@guarded
def evaluate(
    now: str = typer.Option(None, "--now", help="evaluate as of this time (ISO-8601; default: now)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="list what would fire; change nothing"),
    as_json: bool = typer.Option(False, "--json", help="print the firings as a JSON array"),
    engine: str = typer.Option("durable", hidden=True, help="durable | reference"),
) -> None:
    """Recompute stages and fire due triggers as of --now; embedded, deliver the actions too."""
    settings = bootstrap()
    result = run_evaluation(settings, parse_now(now), dry_run=dry_run, engine=engine)
    if as_json:
        print(json.dumps([f.to_json() for f in result.fired]))
        return
    table = Table("automation", "contact", "trigger", "occurrence", "arm",
                  title="would fire" if dry_run else "fired")
    for fired in result.fired[:TABLE_ROWS]:
        table.add_row(fired.automation, fired.contact_id, fired.trigger, fired.occurrence, fired.arm)
    if result.fired:
        out.print(table)
    if len(result.fired) > TABLE_ROWS:
        counts = Counter(f.automation for f in result.fired)
        out.print(f"… and {len(result.fired) - TABLE_ROWS} more (`--json` lists them all). Per automation: "
                  + ", ".join(f"{name} {count}" for name, count in sorted(counts.items())) + ".",
                  markup=False, highlight=False)
    verb = "would fire" if dry_run else "fired"
    note = " (baseline: change triggers recorded, not fired)" if result.baseline else ""
    out.print(f"{result.contacts} contacts, {result.changed} changed, {result.occurrences} occurrences, "
              f"{len(result.fired)} {verb}{note}.", markup=False, highlight=False)
