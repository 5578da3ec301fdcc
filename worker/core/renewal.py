"""Renewal dates of subscriptions and contacts (pure core), PRODUCT.md §5.

A subscription renews at the earliest `current_period_end` of its items (API ≥ 2025-03-31),
else at its own `current_period_end` (legacy shape) — for statuses trialing, active,
past_due, unpaid and incomplete. It has no renewal date when canceled, incomplete_expired or
paused, or when set to cancel: `cancel_at_period_end`, or `cancel_at` at or before that period
end. A contact renews at the earliest renewal date among its subscriptions.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

RENEWING_STATUSES = frozenset({"trialing", "active", "past_due", "unpaid", "incomplete"})


def timestamp(value: Any) -> datetime | None:
    """A Stripe Unix timestamp (or an aware datetime) as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc)
    return datetime.fromtimestamp(int(value), tz=timezone.utc)


def period_end(sub: dict[str, Any]) -> datetime | None:
    """The earliest item `current_period_end`, else the subscription's own (legacy shape)."""
    items = sub.get("items")
    data = items.get("data") if isinstance(items, dict) else items
    ends = [timestamp(i.get("current_period_end")) for i in data or () if isinstance(i, dict)]
    ends = [e for e in ends if e is not None]
    if ends:
        return min(ends)
    return timestamp(sub.get("current_period_end"))


def cancel_scheduled(sub: dict[str, Any], end: datetime | None) -> bool:
    """Set to cancel: at the period end, or at a `cancel_at` at or before `end`."""
    if sub.get("cancel_at_period_end"):
        return True
    cancel_at = timestamp(sub.get("cancel_at"))
    return cancel_at is not None and (end is None or cancel_at <= end)


_UNSET: Any = object()


def subscription_renewal(sub: dict[str, Any], end: datetime | None = _UNSET) -> datetime | None:
    """When the subscription next renews, or None (not renewing, or set to cancel).

    `end` may pass an already computed `period_end(sub)`."""
    if sub.get("status") not in RENEWING_STATUSES:
        return None
    if end is _UNSET:
        end = period_end(sub)
    if end is None or cancel_scheduled(sub, end):
        return None
    return end


def contact_renewal(dates: Iterable[datetime | None]) -> datetime | None:
    """The earliest renewal date among a contact's subscriptions, or None."""
    return min((d for d in dates if d is not None), default=None)
