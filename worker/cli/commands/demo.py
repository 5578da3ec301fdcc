"""`stripe-lifecycle demo [--customers N] [--days D] [--seed S] [--out FILE.html]` (wiring).

Runs the whole product on a simulated Stripe account with virtual time (`worker.demo`),
shows a progress bar on a terminal, prints the true lift beside the measured one and writes
the HTML report. Guide: docs/demo.md.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from typing import Any

import typer

from worker.cli.app import app, bootstrap, err, guarded, write_output
from worker.cli.app import out as stdout
from worker.errors import ConfigError


@app.command()
@guarded
def demo(
    customers: int = typer.Option(2000, "--customers", min=1, max=50_000, help="Customers in the generated account."),
    days: int = typer.Option(365, "--days", min=1, max=3650, help="Days of virtual time to simulate."),
    seed: int = typer.Option(1, "--seed", help="Seed of the account and of the customers' decisions."),
    out: str = typer.Option("stripe-lifecycle-demo.html", "--out", metavar="FILE.html",
                            help="Where to write the HTML report."),
) -> None:
    """Run the whole pipeline on a simulated Stripe account with virtual time."""
    settings = bootstrap()
    out_file = Path(out)
    if not out_file.parent.is_dir():
        raise ConfigError(f"Cannot write the report to {out_file}: the folder {out_file.parent} does not exist.",
                          fix="Create it or pick another path for --out.")
    from worker.logs import configure_logging

    if "LOG_LEVEL" not in os.environ:   # one log line per pass would drown the progress bar
        configure_logging(settings.log_format, "warning")
    from worker.demo import DemoConfig, run_demo
    from worker.demo.summary import day_one_line, headline, summary_table
    from worker.report.html import render_html

    config = DemoConfig(customers=customers, days=days, seed=seed, history_months=settings.history_months)
    started = time.perf_counter()
    with _progress(enabled=err.is_terminal) as progress:
        result = run_demo(config, progress=progress)
    write_output(out_file, render_html(result.report), option="--out")
    stdout.print(headline(result), markup=False, highlight=False)
    stdout.print(summary_table(result))
    if result.first_day is not None:
        stdout.print(day_one_line(result.first_day), markup=False, highlight=False)
    spent = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result.timings.items())
    stdout.print(f"Wall time {time.perf_counter() - started:.1f} s ({spent}).", markup=False, highlight=False)
    stdout.print(f"HTML report written to {out_file.resolve()}", markup=False, highlight=False)


class _progress:
    """A rich progress bar over the simulated days (nothing when stderr is not a terminal)."""

    def __init__(self, *, enabled: bool) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(TextColumn("Simulating days"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            TimeRemainingColumn(), console=err, transient=True) if enabled else None
        self.task: Any = None

    def __enter__(self) -> Any:
        if self.bar is None:
            return None
        self.bar.start()
        return self.update

    def update(self, done: int, total: int) -> None:
        assert self.bar is not None  # only handed out when there is a bar
        if self.task is None:
            self.task = self.bar.add_task("days", total=total)
        self.bar.update(self.task, completed=done)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
