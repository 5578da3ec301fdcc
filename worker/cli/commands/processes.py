"""Long-running processes: `run` (all in one), `scheduler`, `web`, `worker`."""

from __future__ import annotations

import os
import sys

import typer

from worker.cli.app import app, bootstrap, guarded
from worker.errors import ConfigError


@app.command()
@guarded
def run() -> None:
    """All-in-one process: scheduler + worker threads (+ web if WEB_PORT is set). The embedded default."""
    from worker.runtime import process

    process.run_all(bootstrap())


@app.command()
@guarded
def scheduler() -> None:
    """The scheduler process (needs REDIS_URL); one is active at a time, others stand by."""
    from worker.runtime import process

    process.run_scheduler(bootstrap())


@app.command()
@guarded
def web() -> None:
    """Webhook receiver (POST /stripe/webhook), /healthz, /metrics and /report (WEB_PORT, default 8000)."""
    from worker.runtime import process

    process.run_web(bootstrap())


@app.command()
@guarded
def worker(processes: int = typer.Option(2, help="worker processes"),
           threads: int = typer.Option(4, help="threads per process")) -> None:
    """Worker processes on Redis: `dramatiq worker.tasks` with JSON logs (needs REDIS_URL)."""
    settings = bootstrap()
    if settings.embedded:
        raise ConfigError("Worker processes need REDIS_URL.",
                          fix="Set REDIS_URL, or use `stripe-lifecycle run` for the embedded process.")
    argv = [sys.executable, "-m", "worker.runtime.dramatiq_main", "worker.tasks", "--processes", str(processes),
            "--threads", str(threads), "--skip-logging"]
    # dramatiq reads its idle poll interval from this variable when it is imported (WORKER_POLL_MS)
    os.environ["dramatiq_worker_timeout"] = str(settings.worker_poll_ms)  # noqa: SIM112 - dramatiq spells it so
    os.execv(sys.executable, argv)
