"""Long-running processes: `run` (all in one), `scheduler`, `web`, `worker`."""

from __future__ import annotations

from worker.cli.app import app, bootstrap, guarded
from worker.errors import NotBuiltYet


@app.command()
@guarded
def run() -> None:
    """All-in-one process: scheduler + worker threads (+ web if WEB_PORT is set)."""
    bootstrap()
    raise NotBuiltYet("`stripe-lifecycle run` is not built yet (issue #2).")


@app.command()
@guarded
def scheduler() -> None:
    """The scheduler process (needs REDIS_URL); one is active at a time, others stand by."""
    bootstrap()
    raise NotBuiltYet("`stripe-lifecycle scheduler` is not built yet (issue #2).")


@app.command()
@guarded
def web() -> None:
    """Webhook receiver, /healthz, /metrics and /report."""
    bootstrap()
    raise NotBuiltYet("`stripe-lifecycle web` is not built yet (issue #2).")
