"""`stripe-lifecycle connect`: check the Stripe key, its permissions, and say what to subscribe to.

Prints the account, mode and key kind; for a restricted key, probes every resource the sync
reads and names each missing permission (exit 2); then the webhook event types to subscribe
the endpoint (`POST /stripe/webhook`) to.
"""

from __future__ import annotations

from worker.cli.app import app, bootstrap, guarded, out


@app.command()
@guarded
def connect() -> None:
    """Check STRIPE_API_KEY against Stripe: account, mode, key kind, missing permissions, webhook events."""
    from worker.stripe_api.client import check_key
    from worker.stripe_api.permissions import REQUIRED
    from worker.sync.source import EVENT_TYPES

    settings = bootstrap()
    key = settings.require_stripe_key()
    if key.startswith("rk_"):
        _require_permissions(key, settings.stripe_api_base)
    info = check_key(key, settings.stripe_api_base)
    account = info.account_id or "unknown (the key cannot read the account)"
    if info.account_name:
        account = f"{account} ({info.account_name})"
    out.print(f"Connected to Stripe account {account}: {info.mode} mode, {info.key_kind} key.",
              markup=False, highlight=False)
    if info.key_kind == "restricted":
        out.print(f"Permissions: read access to {', '.join(p.resource for p in REQUIRED)}: all granted.",
                  markup=False, highlight=False)
    out.print(f"Webhook endpoint (POST /stripe/webhook, signing secret in STRIPE_WEBHOOK_SECRET): subscribe "
              f"it to these {len(EVENT_TYPES)} event types: {', '.join(EVENT_TYPES)}.",
              markup=False, highlight=False)


def _require_permissions(key: str, api_base: str) -> None:
    from worker.errors import StripeError
    from worker.stripe_api.permissions import describe_missing, missing_permissions

    missing = missing_permissions(key, api_base)
    if missing:
        raise StripeError(
            f"The restricted key lacks {len(missing)} permission{'s' if len(missing) > 1 else ''} "
            f"stripe-lifecycle needs (Stripe answered 403): {describe_missing(missing)}.",
            fix="In the Stripe dashboard (Developers → API keys), edit the key and grant Read access to: "
                f"{', '.join(m.resource for m in missing)}; then run connect again.",
        )
