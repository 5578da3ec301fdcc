"""Building the Stripe client and telling its errors apart for people.

The SDK pins the API version (FACTS.md: stripe 16.1.0 → 2026-10-28.endive) and sends it on
every request; `api_base` points it at Stripe, the project's sandbox or localstripe.
"""

from __future__ import annotations

from dataclasses import dataclass

import requests
import stripe

from worker.errors import StripeError


def make_client(api_key: str, api_base: str, *, max_network_retries: int = 0) -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base},
        max_network_retries=max_network_retries,
        http_client=stripe.RequestsClient(session=_session(api_base)),
    )


def _session(api_base: str) -> requests.Session:
    """The SDK's requests session, reading the proxy settings of the environment (HTTPS_PROXY,
    NO_PROXY…) once here instead of on every request: requests re-reads the whole environment
    per request when `trust_env` is on, about a fifth of the CPU of a re-fetch. (The CA bundle
    is the SDK's own, passed on every request, so no other environment setting applies.)"""
    session = requests.Session()
    session.trust_env = False
    session.proxies.update(requests.utils.get_environ_proxies(api_base))
    return session


@dataclass(frozen=True)
class KeyInfo:
    key_kind: str  # secret | restricted
    mode: str  # test | live
    account_id: str | None
    account_name: str | None


def describe_key(api_key: str) -> tuple[str, str]:
    """(kind, mode) from the key's prefix: sk_/rk_ and _test_/_live_."""
    kind = "restricted" if api_key.startswith("rk_") else "secret"
    mode = "live" if "_live_" in api_key else "test"
    return kind, mode


def explain(exc: stripe.StripeError, api_base: str) -> StripeError:
    """A StripeError the user can act on, without echoing the key."""
    if isinstance(exc, stripe.AuthenticationError):
        return StripeError(
            "Stripe rejected the key (401).",
            fix="Check STRIPE_API_KEY: copy a current secret (sk_…) or restricted (rk_…) key "
            "from the Stripe dashboard.",
        )
    if isinstance(exc, stripe.PermissionError):
        detail = (exc.user_message or str(exc) or "").strip()
        return StripeError(
            f"The key lacks a permission Stripe requires (403): {detail}",
            fix="Grant that permission to the restricted key in the Stripe dashboard "
            "(read access to customers, subscriptions, prices, products, coupons and events).",
        )
    if isinstance(exc, stripe.APIConnectionError):
        return StripeError(
            f"Cannot reach Stripe at {api_base}.",
            fix="Check the network and STRIPE_API_BASE.",
            retryable=True,
        )
    status = getattr(exc, "http_status", None)
    return StripeError(
        f"Stripe answered with an error ({status}): {exc.user_message or type(exc).__name__}.",
        retryable=status is None or status >= 500 or status == 429,
    )


def check_key(api_key: str, api_base: str) -> KeyInfo:
    """Check the key with a cheap list call (there is no ping endpoint), then name the account."""
    client = make_client(api_key, api_base)
    try:
        client.v1.customers.list(params={"limit": 1})
    except stripe.StripeError as exc:
        raise explain(exc, api_base) from None
    kind, mode = describe_key(api_key)
    account_id = account_name = None
    try:
        account = client.v1.accounts.retrieve_current().to_dict()
        account_id = account.get("id")
        dashboard = (account.get("settings") or {}).get("dashboard") or {}
        account_name = (account.get("business_profile") or {}).get("name") or dashboard.get("display_name")
    except stripe.StripeError:
        pass  # restricted keys and some test servers cannot read the account: not an error
    return KeyInfo(key_kind=kind, mode=mode, account_id=account_id, account_name=account_name)
