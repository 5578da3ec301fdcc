"""`stripe-lifecycle demo` (not built yet: issue #8)."""

from __future__ import annotations

from worker.cli.app import app, bootstrap, guarded
from worker.errors import NotBuiltYet


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@guarded
def demo() -> None:
    """Run the whole pipeline on a simulated Stripe account with virtual time."""
    bootstrap()
    raise NotBuiltYet("`stripe-lifecycle demo` is not built yet (issue #8).")
