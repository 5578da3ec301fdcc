"""`stripe-lifecycle sync [--full]` (not built yet: issue #3)."""

from __future__ import annotations

from worker.cli.app import app, bootstrap, guarded
from worker.errors import NotBuiltYet


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@guarded
def sync() -> None:
    """Sync customers and subscriptions from Stripe now (incremental, or --full backfill/reconcile)."""
    bootstrap()
    raise NotBuiltYet("`stripe-lifecycle sync` is not built yet (issue #3).")
