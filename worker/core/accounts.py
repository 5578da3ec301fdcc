"""A contact's snapshot from its Stripe customers and subscriptions (pure core).

Puts MRR (`mrr`), renewal dates (`renewal`) and the stage (`stages`) together into the
`ContactSnapshot` that `accounts --json` prints and the triggers diff. Inputs are the stored
raw Stripe JSON (both shapes) plus the contact's own fields; `previous` (the last stored
snapshot) carries `status_since` forward, and `at` is when a status change happened.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from worker.core.money import FxTable
from worker.core.mrr import contact_mrr, subscription_items, subscription_mrr
from worker.core.renewal import (
    contact_renewal,
    period_end,
    subscription_renewal,
    timestamp,
)
from worker.core.snapshot import ContactSnapshot, SubscriptionSnapshot, iso
from worker.core.stages import StageRules


@dataclass(frozen=True)
class ContactInfo:
    """The contact's own fields (None id: an unlinked Stripe customer)."""

    contact_id: str | None
    contact_type: str | None = None
    name: str | None = None
    email: str | None = None


@dataclass
class Explained:
    snapshot: ContactSnapshot
    lines: list[str] = field(default_factory=list)


def _created_key(obj: dict[str, Any]) -> tuple[int, str]:
    return (int(obj.get("created") or 0), str(obj.get("id") or ""))


def merged_metadata(customers: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Every customer's metadata, the newest customer winning a key both have."""
    merged: dict[str, str] = {}
    for customer in sorted(customers, key=_created_key) if len(customers) > 1 else customers:
        merged.update({str(k): str(v) for k, v in (customer.get("metadata") or {}).items()})
    return merged


def subscription_plans(sub: dict[str, Any], product_names: Mapping[str, str]) -> tuple[str, ...]:
    """Price ids, lookup keys and product names of the subscription's items (for `plan:`)."""
    found: list[str] = []
    for item in subscription_items(sub):
        price = item.get("price") or item.get("plan") or {}
        if not isinstance(price, dict):
            found.append(str(price))
            continue
        product = price.get("product")
        name = product.get("name") if isinstance(product, dict) else product_names.get(product or "")
        found.extend(v for v in (price.get("id"), price.get("lookup_key"), name) if v)
    for item in subscription_items(sub):  # after the names: `plan` traits read the first entry
        price = item.get("price") or item.get("plan") or {}
        recurring = (price.get("recurring") or {}) if isinstance(price, dict) else {}
        interval = recurring.get("interval") or (price.get("interval") if isinstance(price, dict) else None)
        if isinstance(interval, str) and interval:
            found.append(f"interval:{interval}")  # worker.rules.model.interval_token
    return tuple(dict.fromkeys(found))


def customer_discounts(customers: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Customer id → its customer-level discount (`customer.discount`), for those that have one."""
    return {c["id"]: c["discount"] for c in customers if isinstance(c.get("discount"), dict) and c.get("id")}


def _customer_of(sub: dict[str, Any]) -> Any:
    customer = sub.get("customer")
    return customer.get("id") if isinstance(customer, dict) else customer


def first_status_since(sub: dict[str, Any], at: datetime) -> datetime:
    """Best estimate of when a subscription seen for the first time entered its status."""
    status = sub.get("status")
    guess = None
    if status == "canceled":
        guess = timestamp(sub.get("ended_at")) or timestamp(sub.get("canceled_at"))
    elif status == "trialing":
        guess = timestamp(sub.get("trial_start")) or timestamp(sub.get("start_date"))
    elif status == "active":
        trial_end = timestamp(sub.get("trial_end"))
        guess = trial_end if trial_end and trial_end <= at else timestamp(sub.get("start_date"))
    return min(guess, at) if guess else at


def _status_since(sub: dict[str, Any], previous: Mapping[str, SubscriptionSnapshot],
                  history: Mapping[str, tuple[str, datetime]], at: datetime) -> datetime:
    before = previous.get(sub.get("id"))
    if before is None:  # not in this contact's last snapshot: its own history, else a guess
        known = history.get(sub.get("id"))
        if known is not None and known[0] == sub.get("status"):
            return known[1]
        return first_status_since(sub, at)
    if before.status == sub.get("status") and before.status_since is not None:
        return before.status_since
    return at


def subscription_snapshot(sub: dict[str, Any], result_minor: int, currency: str,
                          previous: Mapping[str, SubscriptionSnapshot], product_names: Mapping[str, str],
                          at: datetime, history: Mapping[str, tuple[str, datetime]] | None = None
                          ) -> SubscriptionSnapshot:
    customer = sub.get("customer")
    end = period_end(sub)
    return SubscriptionSnapshot(
        id=sub["id"],
        customer=customer.get("id") if isinstance(customer, dict) else customer,
        status=sub.get("status") or "",
        mrr_minor=result_minor,
        currency=currency,
        renewal_date=subscription_renewal(sub, end),
        current_period_end=end,
        cancel_at=timestamp(sub.get("cancel_at")),
        cancel_at_period_end=bool(sub.get("cancel_at_period_end")),
        trial_end=timestamp(sub.get("trial_end")),
        canceled_at=timestamp(sub.get("canceled_at")),
        ended_at=timestamp(sub.get("ended_at")),
        status_since=_status_since(sub, previous, history or {}, at),
        plans=subscription_plans(sub, product_names),
    )


def contact_snapshot(info: ContactInfo, customers: Sequence[dict[str, Any]], subscriptions: Sequence[dict[str, Any]],
                     *, preset: str, fx: FxTable, stages: StageRules, now: datetime, at: datetime | None = None,
                     previous: ContactSnapshot | None = None, product_names: Mapping[str, str] | None = None,
                     status_history: Mapping[str, tuple[str, datetime]] | None = None,
                     explain: bool = False) -> Explained:
    """The contact's snapshot as of `now` (and the explanation lines when `explain`).

    `status_history`: subscription id → (status, since) from the stored subscription history,
    for subscriptions missing from `previous` (e.g. a customer that moved to this contact)."""
    at = at or now
    names = product_names or {}
    before = {s.id: s for s in previous.subscriptions} if previous else {}
    subs = sorted(subscriptions, key=_created_key) if len(subscriptions) > 1 else subscriptions
    discounts = customer_discounts(customers)
    results = [subscription_mrr(s, preset, now, explain=explain,
                                customer_discount=discounts.get(_customer_of(s)) if discounts else None)
               for s in subs]
    snaps = tuple(subscription_snapshot(s, r.minor, r.currency, before, names, at, status_history)
                  for s, r in zip(subs, results))
    label = info.contact_id or (customers[0].get("id") if customers else "the customer")
    total = contact_mrr(results, fx, contact=f"contact {label}", explain=explain)
    stage = stages.stage(s.status for s in snaps)
    renewal = contact_renewal(s.renewal_date for s in snaps)
    first = (min(customers, key=_created_key) if len(customers) > 1 else customers[0]) if customers else {}
    snapshot = ContactSnapshot(
        contact_id=info.contact_id,
        contact_type=info.contact_type,
        name=info.name if info.name is not None else first.get("name"),
        email=info.email if info.email is not None else first.get("email"),
        stripe_customer_ids=tuple(sorted(c["id"] for c in customers)),
        stripe_customers=tuple(sorted((c.get("account") or "default", c["id"]) for c in customers)),
        stage=stage,
        mrr_minor=total.minor,
        currency=total.currency,
        renewal_date=renewal,
        subscriptions=snaps,
        mrr_native=total.native,
        metadata=merged_metadata(customers),
    )
    lines: list[str] = []
    if explain:
        lines = _explain(snapshot, results, total.lines, stages, preset)
    return Explained(snapshot, lines)


def _explain(snapshot: ContactSnapshot, results: list, total_lines: list[str], stages: StageRules,
             preset: str) -> list[str]:
    customers = ", ".join(cid if account == "default" else f"{cid} (account {account})"
                          for account, cid in snapshot.stripe_customers) or "none"
    who = (f"contact {snapshot.contact_id} (Stripe customers: {customers})" if snapshot.contact_id is not None
           else f"unlinked Stripe customer {customers}")
    lines = [f"{who}, MRR preset {preset}"]
    for result, sub in zip(results, snapshot.subscriptions):
        lines.extend(result.lines)
        lines.append(f"  renewal date: {iso(sub.renewal_date) or 'none'}; stages matched by status "
                     f"{sub.status}: {', '.join(stages.matches(sub.status)) or 'none'}")
    lines.extend(total_lines)
    lines.append(f"stage = {snapshot.stage or 'none'} (first of precedence "
                 f"[{', '.join(stages.precedence)}] matched by any subscription)")
    lines.append(f"renewal date = {iso(snapshot.renewal_date) or 'none'} (earliest among the subscriptions)")
    return lines
