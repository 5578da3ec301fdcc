"""`stripe-lifecycle report [--json | --html FILE] [--since DATE] [--now ISO8601]` (wiring).

Read-only: builds the outcomes and revenue report (PRODUCT.md §8) from the store as of now (or
`--now`). Outcomes are written by the hourly measure job and by `evaluate`; the report only
reads them. `--json` prints exactly §8's object on stdout; `--html FILE` writes the
self-contained page and names it; the default is rich tables.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from worker.cli.app import app, bootstrap, command_runtime, guarded, out, parse_now, write_output
from worker.errors import ConfigError


@app.command()
@guarded
def report(
    as_json: bool = typer.Option(False, "--json", help="Print PRODUCT.md §8's JSON object on stdout."),
    html: Path = typer.Option(None, "--html", metavar="FILE", help="Write the self-contained HTML report here."),
    since: str = typer.Option(None, "--since", metavar="DATE", help="Only firings since this date; months from it."),
    now: str = typer.Option(None, "--now", help="Report as of this time (ISO 8601, default: now)."),
) -> None:
    """Outcomes and revenue report."""
    from worker.report.build import build_report, parse_since

    runtime = command_runtime(bootstrap())
    if as_json and html is not None:
        raise ConfigError("--json and --html cannot be used together.", fix="Pick one of them.")
    moment, start = parse_now(now), parse_since(since)
    rules = runtime.rules()
    try:
        built = build_report(runtime.store(), rules, now=moment, since=start)
    finally:
        runtime.close()
    if as_json:
        typer.echo(json.dumps(built.to_json(), indent=2))
    elif html is not None:
        from worker.report.html import render_html

        write_output(html, render_html(built), option="--html")
        out.print(f"Report written to {html}", markup=False, highlight=False)
    else:
        from worker.report.tables import render_tables

        render_tables(built, out)
