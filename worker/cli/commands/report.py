"""`stripe-lifecycle report` (not built yet: issue #7)."""

from __future__ import annotations

from worker.cli.app import app, bootstrap, guarded
from worker.errors import NotBuiltYet


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@guarded
def report() -> None:
    """Outcomes and revenue report."""
    bootstrap()
    raise NotBuiltYet("`stripe-lifecycle report` is not built yet (issue #7).")
