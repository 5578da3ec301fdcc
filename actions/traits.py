"""Contact traits pushed downstream (Segment traits, HubSpot properties): one derivation.

Values come from the contact's `accounts --json` shape and, when the firing has one, its
subscription. `mrr` is in major units of the contact's MRR currency (150.0 for 15000 cents).
"""

from __future__ import annotations

from typing import Any

from worker.core.money import major_units

TRAIT_NAMES = ("stage", "mrr", "mrr_currency", "renewal_date", "plan", "status", "name", "email", "contact_type")
DEFAULT_TRAITS = ("stage", "mrr", "renewal_date", "plan", "status")
_LIVE = ("active", "past_due", "trialing", "unpaid", "incomplete")


def primary_subscription(contact: dict[str, Any], subscription: dict[str, Any] | None) -> dict[str, Any] | None:
    """The firing's subscription, else the contact's live one renewing first, else its first."""
    if subscription:
        return subscription
    subs = contact.get("subscriptions") or []
    live = [s for s in subs if s.get("status") in _LIVE]
    if live:
        return min(live, key=lambda s: (s.get("renewal_date") is None, s.get("renewal_date") or ""))
    return subs[0] if subs else None


def _plan(sub: dict[str, Any] | None) -> str | None:
    if not sub:
        return None
    if sub.get("plan"):
        return str(sub["plan"])
    plans = sub.get("plans") or []
    return str(plans[0]) if plans else None


def contact_traits(contact: dict[str, Any], subscription: dict[str, Any] | None) -> dict[str, Any]:
    """Every known trait of the contact, by the names in `TRAIT_NAMES`."""
    mrr = contact.get("mrr") or {}
    currency = (mrr.get("currency") or "usd").lower()
    sub = primary_subscription(contact, subscription)
    return {
        "stage": contact.get("stage"),
        "mrr": float(major_units(int(mrr.get("amount_minor") or 0), currency)),
        "mrr_currency": currency,
        "renewal_date": contact.get("renewal_date"),
        "plan": _plan(sub),
        "status": sub.get("status") if sub else None,
        "name": contact.get("name"),
        "email": contact.get("email"),
        "contact_type": contact.get("contact_type"),
    }


def select(traits: dict[str, Any], names: tuple[str, ...] | list[str]) -> dict[str, Any]:
    return {name: traits[name] for name in names}
