"""`stripe-lifecycle accounts`: contacts with stage, MRR and renewal date (wiring).

Read-only: computes the snapshots from the stored mirror as of now (or `--now`) and prints a
table, the `--json` array of PRODUCT.md §3, or (`--explain CONTACT`) the computation line by
line. It never writes state or history — that is `evaluate`'s job, so no change is lost to the
triggers.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

import typer

from worker.cli.app import app, bootstrap, command_runtime, err, guarded, out, parse_now
from worker.errors import ConfigError, LifecycleError

if TYPE_CHECKING:
    from worker.core.accounts import Explained
    from worker.core.snapshot import ContactSnapshot


class UnknownContact(LifecycleError):
    """`--explain` named neither a contact nor an unlinked Stripe customer."""




@app.command()
@guarded
def accounts(
    stage: str = typer.Option(None, "--stage", help="Only contacts in this stage."),
    unlinked: bool = typer.Option(False, "--unlinked", help="Only Stripe customers linked to no contact."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array (PRODUCT.md §3) on stdout."),
    explain: str = typer.Option(None, "--explain", metavar="CONTACT",
                                help="Show how this contact's MRR, renewal date and stage are computed."),
    now: str = typer.Option(None, "--now", help="Compute as of this time (ISO 8601, default: now)."),
) -> None:
    """List contacts with stage, MRR and renewal date."""
    from worker.compute import compute_snapshots, unlinked_customers

    runtime = command_runtime(bootstrap())
    moment = parse_now(now)
    rules = runtime.rules()
    if stage is not None and stage not in rules.stages.stages:
        known = ", ".join(rules.stages.stages) or "none are defined"
        raise ConfigError(f"--stage {stage!r} is not a stage of stages.yaml.", fix=f"Use one of: {known}.")
    problems: list[tuple[str, str]] = []
    try:
        with runtime.store().session() as session:
            if explain is not None:
                _print_explanation(_find(session, rules, explain, moment))
                return
            if unlinked:
                found = unlinked_customers(session, rules.source, rules.stages, now=moment)
            else:
                found = compute_snapshots(session, rules.source, rules.stages, now=moment, problems=problems)
    finally:
        runtime.close()
    snapshots = [e.snapshot for e in found if stage is None or e.snapshot.stage == stage]
    if as_json:
        typer.echo(json.dumps([s.to_json() for s in snapshots], indent=2))
    else:
        _print_table(snapshots, unlinked)
    if problems:  # the others are listed; these could not be computed (exit 1: ran, found problems)
        for contact_id, message in problems:
            err.print(f"{contact_id}: {message}", markup=False, highlight=False)
        raise typer.Exit(1)


def _find(session: Any, rules: Any, key: str, moment: datetime) -> Explained:
    from worker.compute import compute_snapshots, unlinked_customers

    problems: list[tuple[str, str]] = []
    found = compute_snapshots(session, rules.source, rules.stages, now=moment, contact_ids=[key], explain=True,
                              problems=problems)
    if problems:
        raise ConfigError(f"Contact {key!r} cannot be computed: {problems[0][1]}")
    if found:
        return found[0]
    for item in unlinked_customers(session, rules.source, rules.stages, now=moment, explain=True):
        if key in item.snapshot.stripe_customer_ids:
            return item
    raise UnknownContact(f"There is no contact {key!r} (nor an unlinked Stripe customer with that id).",
                         fix="Run `stripe-lifecycle accounts` to list the contact ids.")


def _print_explanation(item: Explained) -> None:
    for line in item.lines:
        out.print(line, markup=False, highlight=False)


def _print_table(snapshots: list[ContactSnapshot], unlinked: bool) -> None:
    from rich.table import Table

    from worker.core.money import format_minor

    table = Table(show_lines=False)
    for title in ("customer" if unlinked else "contact", "name", "stage", "MRR", "renewal", "subscriptions"):
        table.add_column(title, justify="right" if title in ("MRR", "subscriptions") else "left")
    for s in snapshots:
        key = s.stripe_customer_ids[0] if unlinked and s.stripe_customer_ids else (s.contact_id or "")
        renewal = s.renewal_date.strftime("%Y-%m-%d") if s.renewal_date else "—"
        table.add_row(key, s.name or "", s.stage or "—", format_minor(s.mrr_minor, s.currency), renewal,
                      str(len(s.subscriptions)))
    out.print(table)
    out.print(f"{len(snapshots)} {'customer' if unlinked else 'contact'}{'s' if len(snapshots) != 1 else ''}.",
              markup=False, highlight=False)
