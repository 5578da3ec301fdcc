"""`stripe-lifecycle connect`: check the Stripe key, its permissions, and say what to subscribe to.

Prints the account, mode and key kind; for a restricted key, probes every resource the sync
reads and names each missing permission (exit 2); then the webhook event types to subscribe
the endpoint (`POST /stripe/webhook`) to.

With several Stripe accounts (rules/stripe.yaml `accounts:`) every account is checked, each
line naming it and its webhook endpoint (`/stripe/webhook/{name}`); a failing account is
named with what failed and the others are still checked (exit 2 when any failed).
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
    accounts = _accounts(settings)
    if len(accounts) > 1:
        _connect_several(accounts)
        return
    key = settings.require_stripe_key() if not accounts else accounts[0].api_key()
    base = settings.stripe_api_base if not accounts else accounts[0].api_base
    if key.startswith("rk_"):
        _require_permissions(key, base)
    info = check_key(key, base)
    out.print(f"Connected to Stripe account {_named(info)}: {info.mode} mode, {info.key_kind} key.",
              markup=False, highlight=False)
    if info.key_kind == "restricted":
        out.print(f"Permissions: read access to {', '.join(p.resource for p in REQUIRED)}: all granted.",
                  markup=False, highlight=False)
    endpoint = "/stripe/webhook" if not accounts or accounts[0].name == "default" else \
        f"/stripe/webhook/{accounts[0].name}"
    secret = "STRIPE_WEBHOOK_SECRET" if not accounts or accounts[0].name == "default" else \
        "the account's webhook_secret"
    out.print(f"Webhook endpoint (POST {endpoint}, signing secret in {secret}): subscribe "
              f"it to these {len(EVENT_TYPES)} event types: {', '.join(EVENT_TYPES)}.",
              markup=False, highlight=False)


def _accounts(settings):  # noqa: ANN001, ANN202
    """The accounts of rules/stripe.yaml `accounts:` ([] when the rules list none or cannot
    be read: STRIPE_API_KEY alone is checked, as before accounts)."""
    from worker.errors import LifecycleError
    from worker.rules.loader import load_rules
    from worker.sync.accounts import stripe_accounts

    try:
        rules = load_rules(settings.rules_dir)
    except LifecycleError:
        return []
    return stripe_accounts(settings, rules) if rules.accounts else []


def _named(info) -> str:  # noqa: ANN001
    account = info.account_id or "unknown (the key cannot read the account)"
    return f"{account} ({info.account_name})" if info.account_name else account


def _connect_several(accounts) -> None:  # noqa: ANN001
    """Check every account; name each failure and go on; exit 2 when any failed."""
    import typer

    from worker.errors import LifecycleError
    from worker.stripe_api.client import check_key
    from worker.sync.source import EVENT_TYPES

    failed = []
    for account in accounts:
        try:
            key = account.api_key()
            if key.startswith("rk_"):
                _require_permissions(key, account.api_base)
            info = check_key(key, account.api_base)
        except LifecycleError as exc:
            failed.append(account.name)
            out.print(f"Stripe account {account.name}: FAILED: {exc}", markup=False, highlight=False)
            continue
        hook = (f"webhook POST /stripe/webhook/{account.name}" if account.webhook_secret is not None
                else "no webhook_secret: no webhook endpoint")
        out.print(f"Stripe account {account.name}: connected to {_named(info)}: {info.mode} mode, "
                  f"{info.key_kind} key; {hook}.", markup=False, highlight=False)
    out.print(f"Subscribe each webhook endpoint to these {len(EVENT_TYPES)} event types: "
              f"{', '.join(EVENT_TYPES)}.", markup=False, highlight=False)
    if failed:
        out.print(f"{len(failed)} of {len(accounts)} Stripe accounts failed: {', '.join(failed)}.",
                  markup=False, highlight=False)
        raise typer.Exit(2)


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
