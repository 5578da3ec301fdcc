"""`stripe-lifecycle check` (not built yet: issue #5)."""

from __future__ import annotations

from worker.cli.app import app, bootstrap, guarded
from worker.errors import NotBuiltYet


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@guarded
def check() -> None:
    """Validate every rule file."""
    bootstrap()
    raise NotBuiltYet("`stripe-lifecycle check` is not built yet (issue #5).")
