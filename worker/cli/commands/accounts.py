"""`stripe-lifecycle accounts` (not built yet: issue #4)."""

from __future__ import annotations

from worker.cli.app import app, bootstrap, guarded
from worker.errors import NotBuiltYet


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@guarded
def accounts() -> None:
    """List contacts with stage, MRR and renewal date."""
    bootstrap()
    raise NotBuiltYet("`stripe-lifecycle accounts` is not built yet (issue #4).")
