"""`stripe-lifecycle evaluate` (not built yet: issue #5)."""

from __future__ import annotations

from worker.cli.app import app, bootstrap, guarded
from worker.errors import NotBuiltYet


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@guarded
def evaluate() -> None:
    """Recompute stages and fire due triggers as of --now."""
    bootstrap()
    raise NotBuiltYet("`stripe-lifecycle evaluate` is not built yet (issue #5).")
