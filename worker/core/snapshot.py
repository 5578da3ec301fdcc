"""Snapshots: what the product knows about a contact at one moment (pure core).

A snapshot is computed from the stored Stripe mirror and the rules; the previous and the new
snapshot of a contact are diffed into trigger occurrences, and the JSON form is exactly the
`accounts --json` entry of PRODUCT.md §3 (plus a few internal fields under `_`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


def iso(value: datetime | None) -> str | None:
    """UTC ISO-8601 with a `Z`, as every JSON shape of the product prints times."""
    if value is None:
        return None
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> datetime:
    """A person's ISO-8601 date or time (`2026-12-01`, `…T09:00:00Z`, with an offset or without,
    read as UTC) as aware UTC; ValueError when it is not one."""
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def parse_iso(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)


@dataclass(frozen=True)
class SubscriptionSnapshot:
    """One subscription as the triggers and templates see it."""

    id: str
    customer: str
    status: str
    mrr_minor: int
    currency: str
    renewal_date: datetime | None
    current_period_end: datetime | None = None
    cancel_at: datetime | None = None
    cancel_at_period_end: bool = False
    trial_end: datetime | None = None
    canceled_at: datetime | None = None
    ended_at: datetime | None = None
    status_since: datetime | None = None  # when it entered `status` (past_due episodes)
    plans: tuple[str, ...] = ()  # price ids, lookup keys and product names, for `plan:`

    def to_json(self) -> dict[str, Any]:
        """The public shape of PRODUCT.md §3 (`subscriptions[]`)."""
        return {
            "id": self.id,
            "customer": self.customer,
            "status": self.status,
            "mrr_minor": self.mrr_minor,
            "currency": self.currency,
            "renewal_date": iso(self.renewal_date),
            "cancel_at": iso(self.cancel_at),
            "cancel_at_period_end": self.cancel_at_period_end,
            "trial_end": iso(self.trial_end),
        }

    def to_state(self) -> dict[str, Any]:
        """Everything, for storing as the 'previous' side of the next diff."""
        return {
            **self.to_json(),
            "current_period_end": iso(self.current_period_end),
            "canceled_at": iso(self.canceled_at),
            "ended_at": iso(self.ended_at),
            "status_since": iso(self.status_since),
            "plans": list(self.plans),
        }

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> SubscriptionSnapshot:
        times = ("renewal_date", "current_period_end", "cancel_at", "trial_end", "canceled_at",
                 "ended_at", "status_since")
        kwargs = {k: data.get(k) for k in cls.__dataclass_fields__}
        for key in times:
            kwargs[key] = parse_iso(kwargs[key])
        kwargs["plans"] = tuple(kwargs["plans"] or ())
        kwargs["cancel_at_period_end"] = bool(kwargs["cancel_at_period_end"])
        return cls(**kwargs)


def _customers_of(data: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """(account, id) pairs of a stored snapshot; one stored before accounts existed had only
    `stripe_customer_ids`, all of the account `default`."""
    if "stripe_customers" in data:
        return tuple((c.get("account") or "default", c["id"]) for c in data["stripe_customers"] or ())
    return tuple(("default", cid) for cid in data.get("stripe_customer_ids") or ())


@dataclass(frozen=True)
class ContactSnapshot:
    """One contact: stage, MRR (in `currency`), renewal date and its subscriptions."""

    contact_id: str | None  # None for an unlinked Stripe customer (`accounts --unlinked`)
    contact_type: str | None
    name: str | None
    email: str | None
    stripe_customer_ids: tuple[str, ...]
    stage: str | None
    mrr_minor: int
    currency: str
    renewal_date: datetime | None
    subscriptions: tuple[SubscriptionSnapshot, ...] = ()
    mrr_native: dict[str, int] = field(default_factory=dict)  # per currency, before FX
    metadata: dict[str, str] = field(default_factory=dict)  # Stripe customer metadata
    # When the mirror last changed for this contact (latest Stripe event `created`, else when it
    # was observed): the history marker in the once-per keys of change triggers. Optional.
    changed_at: datetime | None = None
    # (account, customer id) of each Stripe customer: a contact may link customers of several
    # Stripe accounts (rules/stripe.yaml `accounts:`), whose ids are unique only per account.
    stripe_customers: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Exactly one entry of `accounts --json` (PRODUCT.md §3)."""
        return {
            "contact_id": self.contact_id,
            "contact_type": self.contact_type,
            "name": self.name,
            "email": self.email,
            "stripe_customer_ids": list(self.stripe_customer_ids),
            "stripe_customers": [{"id": cid, "account": account} for account, cid in self.stripe_customers],
            "stage": self.stage,
            "mrr": {"amount_minor": self.mrr_minor, "currency": self.currency},
            "renewal_date": iso(self.renewal_date),
            "subscriptions": [s.to_json() for s in self.subscriptions],
        }

    def to_state(self) -> dict[str, Any]:
        data = self.to_json()
        data["subscriptions"] = [s.to_state() for s in self.subscriptions]
        data["mrr_native"] = dict(self.mrr_native)
        data["metadata"] = dict(self.metadata)
        data["changed_at"] = iso(self.changed_at)
        return data

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> ContactSnapshot:
        return cls(
            contact_id=data["contact_id"],
            contact_type=data.get("contact_type"),
            name=data.get("name"),
            email=data.get("email"),
            stripe_customer_ids=tuple(data.get("stripe_customer_ids") or ()),
            stage=data.get("stage"),
            mrr_minor=int(data["mrr"]["amount_minor"]),
            currency=data["mrr"]["currency"],
            renewal_date=parse_iso(data.get("renewal_date")),
            subscriptions=tuple(SubscriptionSnapshot.from_state(s) for s in data.get("subscriptions") or ()),
            mrr_native={k: int(v) for k, v in (data.get("mrr_native") or {}).items()},
            metadata=dict(data.get("metadata") or {}),
            changed_at=parse_iso(data.get("changed_at")),
            stripe_customers=_customers_of(data),
        )
