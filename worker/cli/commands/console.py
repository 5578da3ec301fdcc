"""`deliveries list|retry|cancel`, `explain CONTACT [--automation NAME]` and
`console-hash-password` (wiring). Heavy imports happen inside the commands, so `--help` stays
fast. Re-drives and cancels from the CLI are written to the audit log as `cli:$USER`.
"""

from __future__ import annotations

import getpass
import json
import os
import sys

import typer

from worker.cli.app import app, bootstrap, err, guarded, out, parse_now

deliveries_app = typer.Typer(help="Deliveries: list, re-drive dead ones, cancel pending ones.", no_args_is_help=True)
app.add_typer(deliveries_app, name="deliveries")


def _store(settings):  # noqa: ANN001, ANN202
    from worker.store.db import open_store  # noqa: PLC0415

    return open_store(settings.database_url.get_secret_value())


def _actor() -> str:
    return f"cli:{os.environ.get('USER') or getpass.getuser() or 'unknown'}"


@deliveries_app.command("list")
@guarded
def list_(state: str = typer.Option(None, "--state", help="pending, retrying, delivered, dead or canceled."),
          contact: str = typer.Option(None, "--contact", help="Only this contact."),
          limit: int = typer.Option(100, "--limit", min=1, max=200, help="How many (newest first)."),
          as_json: bool = typer.Option(False, "--json", help="Print a JSON array on stdout.")) -> None:
    """List deliveries, newest first."""
    from rich.table import Table  # noqa: PLC0415

    from worker.console import deliveries as dl  # noqa: PLC0415
    from worker.errors import ConfigError  # noqa: PLC0415

    if state is not None and state not in dl.STATES:
        raise ConfigError(f"--state {state!r} is not a delivery state.", fix=f"Use one of: {', '.join(dl.STATES)}.")
    store = _store(bootstrap())
    try:
        rows, total = dl.list_deliveries(store, state=state, contact_id=contact, limit=limit)
    finally:
        store.engine.dispose()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table()
    for title in ("id", "state", "contact", "automation", "handler", "attempts", "last error"):
        table.add_column(title)
    for d in rows:
        table.add_row(str(d["id"]), d["state"], d["contact_id"], d["automation"] or "—", d["handler"],
                      str(d["attempts"]), (d["last_error"] or "")[:80])
    out.print(table)
    out.print(f"{len(rows)} of {total} deliveries.", markup=False, highlight=False)


@deliveries_app.command("retry")
@guarded
def retry(ids: list[int] = typer.Argument(None, help="Dead delivery ids."),
          dead: bool = typer.Option(False, "--dead", help="Re-drive every dead delivery.")) -> None:
    """Re-drive dead deliveries (same idempotency key); the scheduler's reconciler sends them."""
    from worker.console import deliveries as dl  # noqa: PLC0415
    from worker.errors import ConfigError  # noqa: PLC0415

    if bool(ids) == dead:
        raise ConfigError("Name delivery ids or --dead (not both).", fix="e.g. `deliveries retry 12 13` or `--dead`.")
    store = _store(bootstrap())
    try:
        done = dl.retry(store, None if dead else ids, actor=_actor(), now=parse_now(None))
    finally:
        store.engine.dispose()
    out.print(f"Re-driven: {len(done['retried'])} ({', '.join(map(str, done['retried'])) or 'none'}).",
              markup=False, highlight=False)
    if done["skipped"]:
        err.print(f"Not dead (skipped): {', '.join(map(str, done['skipped']))}.", markup=False, highlight=False)
        raise typer.Exit(1)


@deliveries_app.command("cancel")
@guarded
def cancel(ids: list[int] = typer.Argument(..., help="Pending or retrying delivery ids.")) -> None:
    """Cancel pending or retrying deliveries (they will never be sent)."""
    from worker.console import deliveries as dl  # noqa: PLC0415

    store = _store(bootstrap())
    try:
        done = dl.cancel(store, ids, actor=_actor(), now=parse_now(None))
    finally:
        store.engine.dispose()
    out.print(f"Canceled: {len(done['canceled'])} ({', '.join(map(str, done['canceled'])) or 'none'}).",
              markup=False, highlight=False)
    if done["skipped"]:
        err.print(f"Not pending (skipped): {', '.join(map(str, done['skipped']))}.", markup=False, highlight=False)
        raise typer.Exit(1)


@app.command()
@guarded
def explain(contact: str = typer.Argument(..., help="The contact id."),
            automation: str = typer.Option(None, "--automation", help="Only this automation."),
            as_json: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
            now: str = typer.Option(None, "--now", help="As of this time (ISO 8601, default: now).")) -> None:
    """Why each automation fired or did not for a contact, condition by condition."""
    from worker.console.accounts import explain_account  # noqa: PLC0415
    from worker.console.explain import explain_automations  # noqa: PLC0415
    from worker.errors import ConfigError  # noqa: PLC0415
    from worker.rules.loader import load_rules, rule_environment  # noqa: PLC0415

    settings = bootstrap()
    moment = parse_now(now)
    rules = load_rules(settings.rules_dir, rule_environment())
    if automation is not None and rules.automation(automation) is None:
        known = ", ".join(a.name for a in rules.automations) or "none are defined"
        raise ConfigError(f"--automation {automation!r} is not in the rules.", fix=f"Use one of: {known}.")
    store = _store(settings)
    try:
        with store.session() as session:
            found = explain_account(session, rules, contact, now=moment)
            if found is None:
                raise ConfigError(f"There is no contact {contact!r}.",
                                  fix="Run `stripe-lifecycle accounts` to list the contact ids.")
            result = explain_automations(session, rules, found.snapshot, now=moment,
                                         names=[automation] if automation else None)
    finally:
        store.engine.dispose()
    if as_json:
        typer.echo(json.dumps([r.to_json() for r in result], indent=2))
        return
    for item in result:
        for line in item.lines():
            out.print(line, markup=False, highlight=False)


@app.command("console-hash-password")
@guarded
def hash_password_command(name: str = typer.Argument(None, help="Print `NAME:HASH` for CONSOLE_USERS.")) -> None:
    """Read a password (prompt, or one line on stdin) and print its argon2 hash for CONSOLE_USERS."""
    from worker.console.auth import hash_password  # noqa: PLC0415
    from worker.errors import ConfigError  # noqa: PLC0415

    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise ConfigError("The two passwords differ.", fix="Run the command again.")
    else:
        password = sys.stdin.readline().rstrip("\n")
    if len(password) < 8:
        raise ConfigError("The password is shorter than 8 characters.", fix="Choose a longer one.")
    hashed = hash_password(password)
    typer.echo(f"{name}:{hashed}" if name else hashed)
