"""`stripe-lifecycle connect`: check the Stripe key and say which account it opens."""

from __future__ import annotations

from worker.cli.app import app, bootstrap, guarded, out


@app.command()
@guarded
def connect() -> None:
    """Check STRIPE_API_KEY against Stripe; print the account, mode (test/live) and key kind."""
    from worker.stripe_api.client import check_key

    settings = bootstrap()
    key = settings.require_stripe_key()
    info = check_key(key, settings.stripe_api_base)
    account = info.account_id or "unknown (the key cannot read the account)"
    if info.account_name:
        account = f"{account} ({info.account_name})"
    out.print(f"Connected to Stripe account {account}: {info.mode} mode, {info.key_kind} key.",
              markup=False, highlight=False)
