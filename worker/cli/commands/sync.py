"""`stripe-lifecycle sync [--full] [--account NAME]`: one sync now, a progress bar on a terminal, then counts.

Several Stripe accounts (rules/stripe.yaml `accounts:`): each is synced in turn (or only
`--account NAME`), with its counts under its name; one that fails is reported and the others
still sync (exit 1). `--json` then prints {"accounts": [report, …]}, each with `account`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer

from worker.cli.app import app, bootstrap, command_runtime, err, guarded, out
from worker.core.money import FxTable, missing_rates_text

if TYPE_CHECKING:
    from worker.sync import SyncReport

PHASE_NAMES = {"products": "Products", "prices": "Prices", "customers": "Customers",
               "subscriptions": "Subscriptions", "events": "Events", "objects": "Changed objects",
               "invoices": "Invoices (history)", "history": "Contacts' history rebuilt"}


@app.command()
@guarded
def sync(
    full: bool = typer.Option(False, "--full", help="Full backfill/reconcile instead of incremental."),
    as_json: bool = typer.Option(False, "--json", help="Print the counts as one JSON object."),
    history: bool = typer.Option(False, "--history", help="Rebuild HISTORY_MONTHS months of MRR and stage "
                                 "history from Stripe's invoices now (done by the first full sync anyway)."),
    account: str | None = typer.Option(None, "--account", help="Sync only this Stripe account "
                                       "(rules/stripe.yaml accounts:; default: every account)."),
) -> None:
    """Sync customers and subscriptions from Stripe now (incremental, or --full backfill/reconcile).

    The first full sync also rebuilds HISTORY_MONTHS months of history from the invoices.
    Exits 1 when an object could not be read and was quarantined (the rest is synced).
    """
    from worker.sync.service import sync_now

    settings = bootstrap()
    if history and settings.history_months == 0:
        err.print("HISTORY_MONTHS is 0, so --history has nothing to rebuild; set it (e.g. 24) to rebuild history.",
                  markup=False, highlight=False)
        raise typer.Exit(2)
    runtime = command_runtime(settings)
    try:
        names = [account] if account else [a.name for a in runtime.accounts(runtime.clock())]
        if len(names) > 1:
            _sync_several(runtime, names, full=full, history=history, as_json=as_json)
            return
        with _progress(enabled=err.is_terminal and not as_json) as progress:
            report = sync_now(runtime, runtime.clock(), full=full, progress=progress, history=history,
                              account=names[0])
        fx = FxTable.from_config(runtime.rules().source.mrr)
    finally:
        runtime.close()
    if as_json:
        out.print_json(json.dumps(report.to_json()))
    else:
        _print(report, fx)
    if report.quarantined:
        raise typer.Exit(1)


def _sync_several(runtime: Any, names: list[str], *, full: bool, history: bool, as_json: bool) -> None:
    """Each account in turn; a failing one is reported (no traceback) and the rest still sync."""
    from worker.logs import redact
    from worker.sync.service import sync_now

    fx = FxTable.from_config(runtime.rules().source.mrr)
    found: list[dict[str, Any]] = []
    failed = False
    for name in names:
        try:
            with _progress(enabled=err.is_terminal and not as_json) as progress:
                report = sync_now(runtime, runtime.clock(), full=full, progress=progress, history=history,
                                  account=name)
        except Exception as exc:  # noqa: BLE001 - one account's failure must not stop the others
            failed = True
            message = redact(str(exc)) or type(exc).__name__
            found.append({"account": name, "error": message})
            if not as_json:
                out.print(f"Stripe account {name}: sync failed: {message}", markup=False, highlight=False)
            continue
        failed = failed or bool(report.quarantined)
        found.append(report.to_json())
        if not as_json:
            out.print(f"Stripe account {name}:", markup=False, highlight=False)
            _print(report, fx)
    if as_json:
        out.print_json(json.dumps({"accounts": found}))
    if failed:
        raise typer.Exit(1)


@contextmanager
def _progress(*, enabled: bool) -> Iterator[Any]:
    if not enabled:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), console=err, transient=True)
    tasks: dict[str, Any] = {}

    def update(phase: str, done: int, total: int | None) -> None:
        if phase not in tasks:
            tasks[phase] = bar.add_task(PHASE_NAMES.get(phase, phase), total=total)
        bar.update(tasks[phase], completed=done, total=total)

    with bar:
        yield update


def _print(report: SyncReport, fx: FxTable) -> None:
    from worker.logs import redact

    kind = "Full sync" if report.mode == "full" else "Incremental sync"
    lines = [
        f"{kind}{' (resumed)' if report.resumed else ''}" + (f": {report.reason}." if report.reason else "."),
        f"  customers:      {report.customers} read, {report.customers_changed} changed",
        f"  subscriptions:  {report.subscriptions} read, {report.subscriptions_changed} changed",
        f"  deleted:        {report.deleted}",
        f"  events applied: {report.events_applied}",
        f"  quarantined:    {len(report.quarantined)}",
        f"  Stripe requests: {report.requests} ({report.retries} retried)"
        + (f", {report.requests_per_change} per changed object" if report.requests_per_change else ""),
    ]
    if report.history_months:
        lines.insert(-1, f"  history:        {report.history_months} months rebuilt from {report.invoices} invoices "
                         f"({report.history_rows} rows for {report.history_contacts} contacts"
                         f"{', resumed' if report.history_resumed else ''})")
        lines += [f"  history not rebuilt for {problem}" for problem in report.history_problems]
    for line in lines:
        out.print(line, markup=False, highlight=False)
    for item in report.quarantined:
        out.print(f"  quarantined {item.object_type} {item.object_id}: {redact(item.reason)}",
                  markup=False, highlight=False)
    if report.missing_fx_rates:
        out.print(missing_rates_text(report.missing_fx_rates, fx), markup=False, highlight=False)
