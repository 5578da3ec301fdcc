"""Day-by-day business activity on a sandbox account, deterministic by seed: upgrades and
downgrades (quantity or price), scheduled and undone cancellations, immediate cancellations,
failed and recovered payments, metadata edits and new sign-ups (some on trial), with the clock
advancing between them so renewals, trial ends and dunning happen too. Every change goes
through the sandbox's mutation methods, so each one emits its Stripe events.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta

from stripe_sandbox.sandbox import Sandbox

LIVE = ("active", "trialing", "past_due", "unpaid")
DEFAULT_RATES = {  # expected occurrences per 1,000 live subscriptions per day
    "upgrade": 3.0, "downgrade": 1.5, "schedule_cancel": 1.5, "unschedule_cancel": 0.5,
    "cancel_now": 0.7, "payment_failed": 1.0, "payment_recovered": 30.0, "metadata": 0.5,
    "signup": 2.0,
}


def simulate_activity(sandbox: Sandbox, days: int = 30, seed: int = 0,
                      rates: dict[str, float] | None = None) -> Counter:
    """Advance `days` days, applying random changes each day; returns counts per kind.
    `payment_recovered` applies to past_due subscriptions only (share per 1,000 of them)."""
    rng = random.Random(seed)
    per_day = {**DEFAULT_RATES, **(rates or {})}
    done: Counter = Counter()
    for _ in range(days):
        day_start = sandbox.clock.now
        with sandbox.lock:
            _one_day(sandbox, rng, per_day, done)
        sandbox.advance_to(day_start + timedelta(days=1))
    return done


def _one_day(sandbox: Sandbox, rng: random.Random, per_day: dict[str, float], done: Counter) -> None:
    subs = sandbox.store["subscription"].objects
    live = sorted(i for i, s in subs.items() if s["status"] in LIVE)
    past_due = [i for i in live if subs[i]["status"] == "past_due"]
    for kind, rate in per_day.items():
        pool = past_due if kind == "payment_recovered" else live
        for _ in range(_draw(rng, rate * max(len(pool), 1) / 1000)):
            if kind == "signup":
                _signup(sandbox, rng)
                done[kind] += 1
            elif pool and ACTIONS[kind](sandbox, rng, subs[rng.choice(pool)]):
                done[kind] += 1
        sandbox.advance(timedelta(minutes=rng.randint(1, 30)))  # spread the day's changes


def _draw(rng: random.Random, expected: float) -> int:
    """A small random count with the given mean (whole part plus a Bernoulli remainder)."""
    whole = int(expected)
    return whole + (1 if rng.random() < expected - whole else 0)


def _resize(sandbox: Sandbox, rng: random.Random, sub: dict, up: bool) -> bool:
    item = sandbox.store.get("subscription_item", sub["items"][0])
    alternatives = _similar_prices(sandbox, item["price"])
    if alternatives and rng.random() < 0.4:
        current = _amount(sandbox.store.get("price", item["price"]))
        better = [p for p in alternatives if (_amount(p) > current) == up and _amount(p) != current]
        if better:
            sandbox.update_subscription(sub["id"], items=[{"id": item["id"], "price": rng.choice(better)["id"]}])
            return True
    quantity = item["quantity"] + rng.randint(1, 5) if up else item["quantity"] - 1
    if quantity < 1:
        return False
    sandbox.update_subscription(sub["id"], items=[{"id": item["id"], "quantity": quantity}])
    return True


def _amount(price: dict) -> int:
    if price["unit_amount"] is not None:
        return price["unit_amount"]
    return sum((t["unit_amount"] or 0) + (t["flat_amount"] or 0) for t in price["tiers"] or [])


def _similar_prices(sandbox: Sandbox, price_id: str) -> list[dict]:
    """Licensed prices in the same currency and billing interval (an allowed plan switch)."""
    price = sandbox.store.get("price", price_id)
    recurring = price["recurring"]
    return [p for p in sandbox.store["price"].objects.values()
            if p["id"] != price_id and p["currency"] == price["currency"]
            and p["recurring"]["interval"] == recurring["interval"]
            and p["recurring"]["interval_count"] == recurring["interval_count"]
            and p["recurring"]["usage_type"] == "licensed"]


def _schedule_cancel(sandbox: Sandbox, rng: random.Random, sub: dict) -> bool:
    if sub["cancel_at"] or sub["status"] != "active":
        return False
    if rng.random() < 0.8:
        sandbox.update_subscription(sub["id"], cancel_at_period_end=True)
    else:
        sandbox.update_subscription(sub["id"], cancel_at=sandbox.clock.now + timedelta(days=rng.randint(3, 60)))
    return True


def _unschedule(sandbox: Sandbox, rng: random.Random, sub: dict) -> bool:
    if not sub["cancel_at"]:
        return False
    sandbox.update_subscription(sub["id"], cancel_at_period_end=False, cancel_at=None)
    return True


def _fail(sandbox: Sandbox, rng: random.Random, sub: dict) -> bool:
    if sub["status"] != "active":
        return False
    sandbox.fail_payment(sub["id"])
    return True


def _recover(sandbox: Sandbox, rng: random.Random, sub: dict) -> bool:
    if sub["status"] not in ("past_due", "unpaid"):
        return False
    sandbox.pay(sub["id"])
    return True


def _metadata(sandbox: Sandbox, rng: random.Random, sub: dict) -> bool:
    sandbox.update_customer(sub["customer"], metadata={"segment": rng.choice(["smb", "mid-market", "enterprise"])})
    return True


def _signup(sandbox: Sandbox, rng: random.Random) -> None:
    prices = sorted((p for p in sandbox.store["price"].objects.values()
                     if p["recurring"]["usage_type"] == "licensed"), key=lambda p: p["id"])
    if not prices:
        return
    price = rng.choice(prices)
    n = len(sandbox.store["customer"].objects)
    customer = sandbox.create_customer(email=f"new{n}@signup.test", name=f"Signup {n}",
                                       metadata={"account_id": f"signup-{n}"})
    trial_end = sandbox.clock.now + timedelta(days=14) if rng.random() < 0.4 else None
    sandbox.create_subscription(customer["id"], [{"price": price["id"], "quantity": rng.randint(1, 10)}],
                                trial_end=trial_end)


ACTIONS = {
    "upgrade": lambda sb, rng, sub: _resize(sb, rng, sub, up=True),
    "downgrade": lambda sb, rng, sub: _resize(sb, rng, sub, up=False),
    "schedule_cancel": _schedule_cancel,
    "unschedule_cancel": _unschedule,
    "cancel_now": lambda sb, rng, sub: bool(sb.cancel_subscription(sub["id"])),
    "payment_failed": _fail,
    "payment_recovered": _recover,
    "metadata": _metadata,
}
