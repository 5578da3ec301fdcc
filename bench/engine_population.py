"""Synthetic inputs for the engine benchmark and stress runs (bench; deterministic by seed).

- `AUTOMATIONS`: 20 automations covering every trigger, with the kinds of conditions ops write.
- `contact_pairs(n, now, seed)`: (previous, new) snapshots of n contacts in a steady state:
  mostly unchanged, a few percent changing stage, status, schedule or MRR since the last pass.
- `random_occurrences(n, seed)`: occurrences of every trigger with random field values, for
  pushing large counts through a matcher.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

from worker.core.occurrences import Occurrence
from worker.core.snapshot import ContactSnapshot, SubscriptionSnapshot
from worker.rules.model import TRIGGERS, Automation, Comparison, Conditions

DAY = timedelta(days=1)
PLANS = ("basic", "pro", "team", "enterprise")
SEGMENTS = ("smb", "mid", "ent")
STAGES = ("trial", "customer", "churn")


def _a(name: str, on: str, within: timedelta | None = None, **conditions) -> Automation:
    from_ = conditions.pop("from_", None)
    to = conditions.pop("to", None)
    return Automation(name=name, on=on, within=within, from_=from_, to=to,
                      conditions=Conditions(**conditions))


def _ge(amount: str) -> Comparison:
    return Comparison(op=">=", value=Decimal(amount))


AUTOMATIONS: tuple[Automation, ...] = (
    _a("renewal-30d", "renewal_due", 30 * DAY, stage=("customer",), mrr=_ge("100")),
    _a("renewal-7d-pro", "renewal_due", 7 * DAY, plan=("pro", "enterprise")),
    _a("renewal-1d-smb", "renewal_due", DAY, metadata={"segment": ("smb",)}),
    _a("trial-3d", "trial_ending", 3 * DAY),
    _a("trial-1d-team", "trial_ending", DAY, plan=("team",)),
    _a("past-due-3d", "past_due_for", 3 * DAY),
    _a("past-due-7d-big", "past_due_for", 7 * DAY, mrr=_ge("500")),
    _a("converted", "stage_changed", from_=("trial",), to=("customer",)),
    _a("churned", "stage_changed", to=("churn",)),
    _a("first-seen", "stage_changed", stage=("trial", "customer")),
    _a("cancel-scheduled", "cancellation_scheduled", mrr=_ge("100")),
    _a("cancel-scheduled-ent", "cancellation_scheduled", metadata={"segment": ("ent",)}),
    _a("cancel-undone", "cancellation_unscheduled"),
    _a("canceled", "canceled"),
    _a("payment-failed", "payment_failed"),
    _a("payment-failed-ent", "payment_failed", plan=("enterprise",)),
    _a("expanded-big", "mrr_expanded", mrr=_ge("1000")),
    _a("expanded-smb", "mrr_expanded", metadata={"segment": ("smb",)}),
    _a("contracted", "mrr_contracted"),
    _a("reactivated", "reactivated"),
)


def _subscription(rng: random.Random, cid: str, k: int, now: datetime) -> SubscriptionSnapshot:
    roll = rng.random()
    status = ("active" if roll < 0.72 else "trialing" if roll < 0.82
              else "past_due" if roll < 0.87 else "canceled")
    mrr = rng.choice((2900, 4900, 9900, 19900, 49900, 150000)) if status != "trialing" else 0
    renewal = None if status == "canceled" else now + timedelta(seconds=rng.randrange(0, 31 * 86400))
    return SubscriptionSnapshot(
        id=f"sub_{cid}_{k}", customer=f"cus_{cid}", status=status, mrr_minor=mrr, currency="usd",
        renewal_date=renewal, current_period_end=renewal,
        trial_end=renewal if status == "trialing" else None,
        status_since=now - timedelta(seconds=rng.randrange(0, 40 * 86400)),
        plans=(rng.choice(PLANS),),
    )


def _stage(subs: tuple[SubscriptionSnapshot, ...]) -> str | None:
    statuses = {s.status for s in subs}
    if statuses & {"active", "past_due"}:
        return "customer"
    return "trial" if "trialing" in statuses else "churn" if statuses else None


def _contact(cid: str, subs: tuple[SubscriptionSnapshot, ...], segment: str) -> ContactSnapshot:
    counted = sum(s.mrr_minor for s in subs if s.status in ("active", "past_due"))
    renewals = [s.renewal_date for s in subs if s.renewal_date is not None]
    return ContactSnapshot(
        contact_id=cid, contact_type="account", name=cid, email=None,
        stripe_customer_ids=(f"cus_{cid}",), stage=_stage(subs), mrr_minor=counted, currency="usd",
        renewal_date=min(renewals) if renewals else None, subscriptions=subs,
        mrr_native={"usd": counted}, metadata={"segment": segment})


def _changed(rng: random.Random, sub: SubscriptionSnapshot, now: datetime) -> SubscriptionSnapshot:
    """One change since the last pass: a status move, a schedule, or a price change."""
    roll = rng.random()
    if roll < 0.3:
        status = rng.choice(("active", "past_due", "canceled"))
        return replace(sub, status=status, status_since=now - timedelta(minutes=5),
                       renewal_date=None if status == "canceled" else sub.renewal_date)
    if roll < 0.6:
        return replace(sub, cancel_at_period_end=not sub.cancel_at_period_end)
    return replace(sub, mrr_minor=max(0, sub.mrr_minor + rng.choice((-2000, 5000, 10000))))


def contact_pairs(n: int, now: datetime, seed: int = 5,
                  change_rate: float = 0.05) -> list[tuple[ContactSnapshot, ContactSnapshot]]:
    rng = random.Random(seed)
    pairs = []
    for i in range(n):
        cid = f"c{i}"
        subs = tuple(_subscription(rng, cid, k, now) for k in range(1 + (rng.random() < 0.2)))
        segment = rng.choice(SEGMENTS)
        prev = _contact(cid, subs, segment)
        if rng.random() < change_rate:
            subs = (_changed(rng, subs[0], now), *subs[1:])
        pairs.append((prev, _contact(cid, subs, segment)))
    return pairs


def random_occurrences(n: int, seed: int = 6) -> list[Occurrence]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        out.append(Occurrence(
            trigger=rng.choice(TRIGGERS), contact_id=f"c{i}", key=f"k{i}",
            stage=rng.choice(STAGES + (None,)), from_stage=rng.choice(STAGES + (None,)),
            to_stage=rng.choice(STAGES + (None,)),
            mrr=Decimal(rng.randrange(0, 300_000)).scaleb(-2),
            plans=tuple(rng.sample(PLANS, rng.randrange(0, 3))),
            metadata={"segment": rng.choice(SEGMENTS)} if rng.random() < 0.9 else {},
            seconds_until=rng.randrange(0, 40 * 86400), seconds_since=rng.randrange(0, 10 * 86400),
        ))
    return out
