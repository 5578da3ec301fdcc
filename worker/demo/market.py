"""The demo's market (wiring over the sandbox): new sign-ups every month (some on a 14-day
trial), trials that convert or not, upgrades and downgrades — what makes the simulated
account look like a SaaS business rather than a shrinking list of identical customers.

Arm-blind: nothing here looks at the automations. Trial conversions use a uniform number
fixed by (seed, subscription, trial end) (`CustomerBehaviour._draw`'s scheme), so they do
not depend on which contacts were treated; sign-ups and plan changes use a generator seeded
by (seed, day).

- **sign-ups**: each day Poisson-like `initial customers × signups_per_month / 30` new
  customers (metadata `account_id`, so each is a contact) subscribe to a monthly licensed
  price in their currency, quantity 1–5; `trial_share` of them start a 14-day trial.
- **trials**: a trialing subscription whose trial ends in the coming day converts with
  probability `trial_conversion`, else it is canceled (the trial is abandoned).
- **plan changes**: each day about `live active subscriptions × upgrade_rate / 30` of them,
  drawn at random, upgrade (quantity +1..5 or a dearer price of the same interval) and
  `× downgrade_rate / 30` downgrade (quantity −1 or a cheaper price), through the sandbox's
  activity actions, so each one is a Stripe event.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import timedelta

from stripe_sandbox import Sandbox
from stripe_sandbox.activity import ACTIONS

DAY = 86400


@dataclass(frozen=True)
class MarketRates:
    signups_per_month: float = 0.025   # new customers a month, as a share of the initial customers
    trial_share: float = 0.5           # of sign-ups that start on a trial
    trial_conversion: float = 0.6      # trials that become paying
    upgrade_rate: float = 0.03         # monthly chance a live subscription upgrades
    downgrade_rate: float = 0.015      # … downgrades


@dataclass
class Market:
    rates: MarketRates
    seed: int
    initial_customers: int
    signed_up: int = 0
    trials_started: int = 0
    trials_converted: int = 0
    trials_dropped: int = 0
    upgrades: int = 0
    downgrades: int = 0

    def step(self, sandbox: Sandbox) -> None:
        """Today's sign-ups, trial decisions and plan changes (the clock at the start of the day)."""
        now = sandbox.clock.ts
        day = now // DAY
        with sandbox.lock:
            rng = random.Random(f"{self.seed}:market:{day}")
            subs = sandbox.store["subscription"].objects
            live = []
            for sub_id in sorted(subs):
                sub = subs[sub_id]
                if sub["status"] == "trialing" and sub["trial_end"] and now < sub["trial_end"] <= now + DAY:
                    self._trial(sandbox, sub_id, sub["trial_end"])
                elif sub["status"] == "active" and not sub["cancel_at"]:
                    live.append(sub)
            self._plan_changes(sandbox, rng, live)
            expected = self.initial_customers * self.rates.signups_per_month / 30
            count = int(expected) + (rng.random() < expected - int(expected))
            for _ in range(count):
                self._signup(sandbox, rng)

    def _trial(self, sandbox: Sandbox, sub_id: str, trial_end: int) -> None:
        if self._draw("trial", sub_id, trial_end) < self.rates.trial_conversion:
            self.trials_converted += 1
            return
        self.trials_dropped += 1
        sandbox.cancel_subscription(sub_id)

    def _plan_changes(self, sandbox: Sandbox, rng: random.Random, live: list[dict]) -> None:
        """Today's upgrades and downgrades: counts with the expected rates, on random live subscriptions."""
        for kind, monthly in (("upgrade", self.rates.upgrade_rate), ("downgrade", self.rates.downgrade_rate)):
            expected = len(live) * monthly / 30
            count = int(expected) + (rng.random() < expected - int(expected))
            for sub in rng.sample(live, min(count, len(live))):
                if ACTIONS[kind](sandbox, rng, sub):
                    if kind == "upgrade":
                        self.upgrades += 1
                    else:
                        self.downgrades += 1

    def _signup(self, sandbox: Sandbox, rng: random.Random) -> None:
        prices = sorted((p for p in sandbox.store["price"].objects.values()
                         if p["recurring"]["usage_type"] == "licensed" and p["recurring"]["interval"] == "month"
                         and p["recurring"]["interval_count"] == 1 and p["unit_amount"]), key=lambda p: p["id"])
        if not prices:
            return
        price = rng.choice(prices)
        self.signed_up += 1
        tag = f"signup-{self.seed}-{self.signed_up}"
        customer = sandbox.create_customer(email=f"{tag}@signup.test", name=f"Sign-up {self.signed_up}",
                                           metadata={"account_id": tag})
        trial = rng.random() < self.rates.trial_share
        self.trials_started += trial
        trial_end = sandbox.clock.now + timedelta(days=14) if trial else None
        sandbox.create_subscription(customer["id"], [{"price": price["id"], "quantity": rng.randint(1, 5)}],
                                    trial_end=trial_end)

    def _draw(self, kind: str, key: str, when: int) -> float:
        digest = hashlib.blake2b(f"{self.seed}:{kind}:{key}:{when}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64

    def summary(self) -> dict[str, int]:
        return {"signed_up": self.signed_up, "trials_started": self.trials_started,
                "trials_converted": self.trials_converted, "trials_dropped": self.trials_dropped,
                "upgrades": self.upgrades, "downgrades": self.downgrades}
