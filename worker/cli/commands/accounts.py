"""`stripe-lifecycle accounts`: contacts with stage, MRR and renewal date (wiring).

Read-only: the snapshots as of now (or `--now`) — stored ones where still current, the others
computed from the stored mirror, 500 contacts at a time (worker.compute.current) — as a table,
the `--json` array of PRODUCT.md §3 (streamed), or (`--explain CONTACT`) the computation line
by line. It never writes state or history — that is `evaluate`'s job, so no change is lost to the
triggers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING

import typer

from worker.cli.app import app, bootstrap, err, guarded, out, parse_now
from worker.core.accounts import Explained
from worker.core.money import format_minor
from worker.core.snapshot import ContactSnapshot
from worker.errors import ConfigError, LifecycleError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from worker.rules.model import RuleSet


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
    from worker.compute import unlinked_customers
    from worker.compute.current import current_snapshots
    from worker.rules.loader import load_rules
    from worker.store.db import open_store

    settings = bootstrap()
    moment = parse_now(now)
    rules = load_rules(settings.rules_dir)
    if stage is not None and stage not in rules.stages.stages:
        known = ", ".join(rules.stages.stages) or "none are defined"
        raise ConfigError(f"--stage {stage!r} is not a stage of stages.yaml.", fix=f"Use one of: {known}.")
    store = open_store(settings.database_url.get_secret_value())
    problems: list[tuple[str, str]] = []
    try:
        with store.session() as session:
            if explain is not None:
                _print_explanation(_find(session, rules, explain, moment))
                return
            if unlinked:
                found = (e.snapshot for e in unlinked_customers(session, rules.source, rules.stages, now=moment))
            else:
                found = current_snapshots(session, rules.source, rules.stages, now=moment, problems=problems)
            snapshots = (s for s in found if stage is None or s.stage == stage)
            if as_json:
                _stream_json(snapshots)
            else:
                _print_table(snapshots, unlinked)
    finally:
        store.engine.dispose()
    if problems:  # the others are listed; these could not be computed (exit 1: ran, found problems)
        for contact_id, message in problems:
            err.print(f"{contact_id}: {message}", markup=False, highlight=False)
        raise typer.Exit(1)


def _stream_json(snapshots) -> None:  # noqa: ANN001
    """The JSON array, one element at a time (exactly `json.dumps(list, indent=2)`'s text),
    so the command never holds every contact."""
    first = True
    for snapshot in snapshots:
        text = json.dumps(snapshot.to_json(), indent=2).replace("\n", "\n  ")
        typer.echo(("[\n  " if first else ",\n  ") + text, nl=False)
        first = False
    typer.echo("[]" if first else "\n]")


def _find(session: Session, rules: RuleSet, key: str, moment: datetime) -> Explained:
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


#: Rows per printed block: the table is printed a block at a time, so `accounts` never holds
#: every contact (the first block sets the column widths, later ones keep at least those).
TABLE_BLOCK = 1000


def _print_table(snapshots: Iterable[ContactSnapshot], unlinked: bool) -> None:
    from rich.table import Table

    titles = ("customer" if unlinked else "contact", "name", "stage", "MRR", "renewal", "subscriptions")
    widths: list[int] | None = None
    count = 0
    for block in _blocks(snapshots, TABLE_BLOCK):
        rows = []
        for s in block:
            key = s.stripe_customer_ids[0] if unlinked and s.stripe_customer_ids else (s.contact_id or "")
            renewal = s.renewal_date.strftime("%Y-%m-%d") if s.renewal_date else "—"
            rows.append((key, s.name or "", s.stage or "—", format_minor(s.mrr_minor, s.currency), renewal,
                         str(len(s.subscriptions))))
        if widths is None:
            widths = [max([len(t), *(len(r[i]) for r in rows)]) for i, t in enumerate(titles)]
        table = Table(show_lines=False, show_header=count == 0)
        for title, width in zip(titles, widths, strict=True):
            table.add_column(title, justify="right" if title in ("MRR", "subscriptions") else "left",
                             min_width=width)
        for row in rows:
            table.add_row(*row)
        out.print(table)
        count += len(rows)
    if count == 0:
        table = Table(show_lines=False)
        for title in titles:
            table.add_column(title, justify="right" if title in ("MRR", "subscriptions") else "left")
        out.print(table)
    out.print(f"{count} {'customer' if unlinked else 'contact'}{'s' if count != 1 else ''}.",
              markup=False, highlight=False)


def _blocks(items: Iterable[ContactSnapshot], size: int) -> Iterator[list[ContactSnapshot]]:
    block: list[ContactSnapshot] = []
    for item in items:
        block.append(item)
        if len(block) == size:
            yield block
            block = []
    if block:
        yield block
