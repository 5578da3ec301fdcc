"""`stripe-lifecycle report [--json | --html FILE] [--since DATE] [--now ISO8601] [--export DIR]` (wiring).

Read-only: builds the outcomes and revenue report (PRODUCT.md §8) from the store as of now (or
`--now`). Outcomes are written by the hourly measure job and by `evaluate`; the report only
reads them. `--json` prints exactly §8's object on stdout; `--html FILE` writes the
self-contained page and names it; the default is rich tables. `--export DIR` also writes the
experiment data as CSV (worker.report.export).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from worker.cli.app import app, bootstrap, guarded, out, parse_now, write_output
from worker.errors import ConfigError


@app.command()
@guarded
def report(
    as_json: bool = typer.Option(False, "--json", help="Print PRODUCT.md §8's JSON object on stdout."),
    html: Path = typer.Option(None, "--html", metavar="FILE", help="Write the self-contained HTML report here."),
    since: str = typer.Option(None, "--since", metavar="DATE", help="Only firings since this date; months from it."),
    now: str = typer.Option(None, "--now", help="Report as of this time (ISO 8601, default: now)."),
    export: Path = typer.Option(None, "--export", metavar="DIR",
                                help="Also write assignments.csv and outcomes.csv into DIR (for a second opinion)."),
) -> None:
    """Outcomes and revenue report."""
    from worker.report.build import build_report, parse_since
    from worker.report.export import export_csv
    from worker.report.html import render_html
    from worker.report.tables import render_tables
    from worker.rules.loader import load_rules
    from worker.store.db import open_store

    settings = bootstrap()
    if as_json and html is not None:
        raise ConfigError("--json and --html cannot be used together.", fix="Pick one of them.")
    moment, start = parse_now(now), parse_since(since)
    rules = load_rules(settings.rules_dir)
    store = open_store(settings.database_url.get_secret_value())
    try:
        built = build_report(store, rules, now=moment, since=start)
        written = export_csv(store, export, currency=built.currency, since=start) if export is not None else []
    finally:
        store.engine.dispose()
    if as_json:
        typer.echo(json.dumps(built.to_json(), indent=2))
        return   # stdout holds the JSON object alone (the export still happened)
    if html is not None:
        write_output(html, render_html(built), option="--html")
        out.print(f"Report written to {html}", markup=False, highlight=False)
    else:
        render_tables(built, out)
    for path in written:
        out.print(f"Exported {path}", markup=False, highlight=False)
