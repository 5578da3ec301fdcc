"""`stripe-lifecycle evaluate [--now ISO8601] [--dry-run] [--json]`."""

from __future__ import annotations

import json
from typing import Literal

import typer

from worker.cli.app import app, bootstrap, command_runtime, guarded, out, parse_now


@app.command()
@guarded
def evaluate(
    now: str = typer.Option(None, "--now", help="evaluate as of this time (ISO-8601; default: now)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="list what would fire; change nothing"),
    as_json: bool = typer.Option(False, "--json", help="print the firings as a JSON array"),
    engine: str = typer.Option("durable", hidden=True, help="durable | reference"),
) -> None:
    """Recompute stages and fire due triggers as of --now; embedded, deliver the actions too."""
    from rich.table import Table

    from worker.automations.service import run_evaluation

    runtime = command_runtime(bootstrap())
    kind: Literal["durable", "reference"] = "reference" if engine == "reference" else "durable"
    try:
        result = run_evaluation(runtime, parse_now(now), dry_run=dry_run, engine=kind)
    finally:
        runtime.close()
    if as_json:
        print(json.dumps([f.to_json() for f in result.fired]))
        return
    table = Table("automation", "contact", "trigger", "occurrence", "arm",
                  title="would fire" if dry_run else "fired")
    for fired in result.fired:
        table.add_row(fired.automation, fired.contact_id, fired.trigger, fired.occurrence, fired.arm)
    if result.fired:
        out.print(table)
    verb = "would fire" if dry_run else "fired"
    note = " (baseline: change triggers recorded, not fired)" if result.baseline else ""
    out.print(f"{result.contacts} contacts, {result.changed} changed, {result.occurrences} occurrences, "
              f"{len(result.fired)} {verb}{note}.", markup=False, highlight=False)
