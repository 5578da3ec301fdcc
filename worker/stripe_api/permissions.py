"""What a Stripe key must be allowed to read, checked one endpoint at a time (adapter).

A restricted key (`rk_…`) holds per-resource permissions; Stripe answers 403 naming the one
that is missing ("Having the 'rak_subscription_read' permission would allow this request to
continue."). `connect` probes every resource the sync reads with one cheap request each and
names every missing permission at once, instead of the first one the sync happens to hit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import stripe

from worker.stripe_api.client import explain, make_client


@dataclass(frozen=True)
class Permission:
    resource: str  # as the Stripe dashboard lists it
    path: str
    params: tuple[tuple[str, str], ...] = (("limit", "1"),)


#: Everything the sync reads (worker.sync.source): lists, re-fetches and nested pages.
REQUIRED = (
    Permission("Customers", "/v1/customers"),
    Permission("Subscriptions", "/v1/subscriptions", (("limit", "1"), ("status", "all"))),
    Permission("Subscription items", "/v1/subscription_items", (("limit", "1"), ("subscription", "sub_probe"))),
    Permission("Prices", "/v1/prices"),
    Permission("Products", "/v1/products"),
    Permission("Coupons", "/v1/coupons"),
    Permission("Events", "/v1/events"),
)
_RAK = re.compile(r"'(rak_[a-z_]+)'")


@dataclass(frozen=True)
class Missing:
    resource: str
    permission: str | None  # Stripe's name, e.g. rak_subscription_read, when it said


def missing_permissions(api_key: str, api_base: str) -> list[Missing]:
    """Every required read permission the key lacks (403). A 401 or an unreachable Stripe is
    raised as the usual StripeError; other answers (400/404 for a probe id) mean allowed."""
    client = make_client(api_key, api_base)
    found = []
    for permission in REQUIRED:
        try:
            client.raw_request("get", permission.path, **dict(permission.params))
        except stripe.PermissionError as exc:
            match = _RAK.search(exc.user_message or str(exc) or "")
            found.append(Missing(permission.resource, match.group(1) if match else None))
        except (stripe.AuthenticationError, stripe.APIConnectionError) as exc:
            raise explain(exc, api_base) from None
        except stripe.StripeError:
            continue  # the endpoint answered past the permission check
    return found


def describe_missing(missing: list[Missing]) -> str:
    return ", ".join(f"{m.resource} ({m.permission or 'read'})" for m in missing)
