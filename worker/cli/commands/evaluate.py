"""`stripe-lifecycle evaluate [--now ISO8601] [--dry-run [--contact ID] [--automation NAME]] [--json]`.

A dry run lists what would fire and, under the table, each treated firing's actions with their
parameters rendered (secrets masked: `worker.automations.preview`); `--contact` and
`--automation` narrow what a dry run lists. `--json` keeps the documented shape (no payloads).
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Literal

import typer

from worker.cli.app import app, bootstrap, command_runtime, guarded, out, parse_now
from worker.errors import ConfigError

if TYPE_CHECKING:
    from worker.automations.firing import Fired
    from worker.rules.model import RuleSet


#: Rows of the fired table; a first pass over a large account fires thousands (the rest are
#: counted per automation, and `--json` lists every one).
TABLE_ROWS = 50

@app.command()
@guarded
def evaluate(
    now: str = typer.Option(None, "--now", help="evaluate as of this time (ISO-8601; default: now)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="list what would fire and what each action would send; "
                                 "change nothing"),
    contact: list[str] = typer.Option(None, "--contact", help="with --dry-run: only this contact id (repeatable)"),
    automation: list[str] = typer.Option(None, "--automation", help="with --dry-run: only this automation "
                                         "(repeatable)"),
    as_json: bool = typer.Option(False, "--json", help="print the firings as a JSON array"),
    engine: str = typer.Option("durable", hidden=True, help="durable | reference"),
) -> None:
    """Recompute stages and fire due triggers as of --now; embedded, deliver the actions too."""
    from rich.table import Table

    from worker.automations.service import run_evaluation

    runtime = command_runtime(bootstrap())
    if (contact or automation) and not dry_run:
        raise ConfigError("--contact and --automation narrow a dry run only.",
                          fix="Add --dry-run (a real evaluation always covers every contact and automation).")
    at = parse_now(now)
    kind: Literal["durable", "reference"] = "reference" if engine == "reference" else "durable"
    try:
        result = run_evaluation(runtime, at, dry_run=dry_run, engine=kind)
    finally:
        runtime.close()
    fired = [f for f in result.fired if (not contact or f.contact_id in contact)
             and (not automation or f.automation in automation)]
    if as_json:
        print(json.dumps([f.to_json() for f in fired]))
        return
    table = Table("automation", "contact", "trigger", "occurrence", "arm",
                  title="would fire" if dry_run else "fired")
    for one in fired[:TABLE_ROWS]:
        table.add_row(one.automation, one.contact_id, one.trigger, one.occurrence, one.arm)
    if fired:
        out.print(table)
    if len(fired) > TABLE_ROWS:
        counts = Counter(f.automation for f in fired)
        out.print(f"… and {len(fired) - TABLE_ROWS} more (`--json` lists them all). Per automation: "
                  + ", ".join(f"{name} {count}" for name, count in sorted(counts.items())) + ".",
                  markup=False, highlight=False)
    if dry_run:
        _print_previews(runtime.rules(), fired[:TABLE_ROWS], at)
        if len(fired) > TABLE_ROWS:
            out.print(f"(the actions of the first {TABLE_ROWS} are shown; narrow with --contact or --automation "
                      "to see others)", markup=False, highlight=False)
    verb = "would fire" if dry_run else "fired"
    note = " (baseline: change triggers recorded, not fired)" if result.baseline else ""
    shown = f" ({len(fired)} shown)" if len(fired) != len(result.fired) else ""
    out.print(f"{result.contacts} contacts, {result.changed} changed, {result.occurrences} occurrences, "
              f"{len(result.fired)} {verb}{shown}{note}.", markup=False, highlight=False)


def _print_previews(rules: RuleSet, fired: list[Fired], at: datetime) -> None:
    from worker.automations.preview import action_previews

    for one in fired:
        out.print(f"{one.automation} → {one.contact_id} ({one.arm}):", markup=False, highlight=False)
        previews = action_previews(rules, one, at)
        if not previews:
            out.print("  holdout: matched and logged, no action is sent", markup=False, highlight=False)
        for preview in previews:
            shown = {k: v for k, v in preview.items() if k != "handler"}
            if "params" in shown and "body" not in shown:
                shown = shown["params"]
            elif "params" in shown:
                shown = {**shown.pop("params"), "body": shown["body"]}
            out.print(f"  {preview['handler']}: {json.dumps(shown, ensure_ascii=False)}", markup=False,
                      highlight=False)
