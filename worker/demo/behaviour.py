"""Simulated customers for the demo (wiring over the sandbox): how they churn, and how they
respond to the demo's automations with configured TRUE effects.

Two ways to leave, each decided once, with a uniform draw `u` that depends only on
(seed, kind, subscription, date) — never on the arm — so the same customer faces the same
draw whether it was contacted or not (that is what makes the counterfactual computable):

- **at renewal**: a subscription whose renewal falls in the coming day (after now, up to
  and including now + 1 day) churns with probability
  `renewal_churn` (× (1 − `reminder_effect`) when a renewal reminder for that renewal reached
  the sink); churn = `cancel_at_period_end`, so the sandbox ends it at the period end.
- **early notice**: each day an active subscription schedules a cancellation at its period end
  with probability `notice_rate`. `decision_delay` later (or just before the cancellation
  takes effect) the customer withdraws it with probability `save_base`, or `save_treated` when
  a cancellation-save message for that subscription reached the sink since it scheduled.
  A customer who withdrew renews at that period end (no renewal-churn draw for it).

Cancellations already scheduled in the generated account are decided the same way.
Every decision is recorded (`Decision`) for `worker.demo.truth`.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from stripe_sandbox import Sandbox

DAY = 86400
DECIDING = ("active", "past_due")


@dataclass(frozen=True)
class Effects:
    """The behaviour model's parameters (probabilities as floats: they are not money)."""

    renewal_churn: float = 0.08      # chance a subscription leaves at a renewal
    reminder_effect: float = 0.30    # relative cut of that chance when reminded
    notice_rate: float = 0.001       # daily chance an active subscription schedules a cancellation
    save_base: float = 0.10          # chance a scheduled cancellation is withdrawn anyway
    save_treated: float = 0.40       # … when the save message arrived
    decision_delay_days: int = 2

    @property
    def reminded_churn(self) -> float:
        return self.renewal_churn * (1 - self.reminder_effect)

    def without_effect(self) -> Effects:
        """The same customers, deaf to every automation (true lift 0)."""
        return Effects(self.renewal_churn, 0.0, self.notice_rate, self.save_base, self.save_base,
                       self.decision_delay_days)


@dataclass
class Decision:
    """One customer decision: `kind` renewal | save, for `subscription` about `due` (Unix s)."""

    kind: str
    subscription: str
    due: int
    noticed: int
    decided: int
    u: float
    contacted: bool
    left: bool


@dataclass
class _Pending:
    noticed: int
    due: int


@dataclass
class CustomerBehaviour:
    """Seeded customer behaviour; `observe` is fed by the sink, `step` runs once per day."""

    effects: Effects
    seed: int
    reminder_automation: str = "renewal-reminder"
    save_automation: str = "cancellation-save"
    decisions: dict[tuple[str, str, int], Decision] = field(default_factory=dict)
    _reminded: set[tuple[str, int]] = field(default_factory=set)
    _saved_at: dict[str, int] = field(default_factory=dict)
    _pending: dict[str, _Pending] = field(default_factory=dict)
    _stays: dict[str, int] = field(default_factory=dict)   # subscription → period end it renews
    _leaving: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # what reached the customers ----------------------------------------------------------
    def observe(self, body: dict[str, Any], at: int) -> None:
        """An action arrived at the sink (virtual time `at`): remember who was contacted."""
        with self._lock:
            if body.get("automation") == self.reminder_automation:
                for sub in (body.get("contact") or {}).get("subscriptions") or []:
                    if sub.get("renewal_date"):
                        self._reminded.add((sub["id"], _ts(sub["renewal_date"])))
            elif body.get("automation") == self.save_automation and body.get("subscription"):
                self._saved_at[body["subscription"]["id"]] = at

    # one day ----------------------------------------------------------------------------
    def step(self, sandbox: Sandbox) -> None:
        """Apply today's decisions (the clock is at the start of the day)."""
        now = sandbox.clock.ts
        with sandbox.lock:
            subs = sandbox.store["subscription"].objects
            items = sandbox.store["subscription_item"].objects
            plan = [self._decide(sub, _period_end(sub, items), now)
                    for _, sub in sorted(subs.items()) if sub["status"] in DECIDING]
            for change in plan:
                if change is not None:
                    change(sandbox)

    def _decide(self, sub: dict, period_end: int | None, now: int):
        sub_id = sub["id"]
        if sub_id in self._leaving or period_end is None:
            return None
        if sub["cancel_at"]:
            return self._maybe_withdraw(sub_id, sub["cancel_at"], now)
        if now < period_end <= now + DAY:
            if self._stays.get(sub_id) == period_end:
                return None
            return self._renewal(sub_id, period_end, now)
        if (sub["status"] == "active" and period_end > now + 3 * DAY and self._stays.get(sub_id) != period_end
                and self._draw("notice", sub_id, now) < self.effects.notice_rate):
            self._pending[sub_id] = _Pending(noticed=now, due=period_end)
            return lambda sb: sb.update_subscription(sub_id, cancel_at_period_end=True)
        return None

    def _renewal(self, sub_id: str, period_end: int, now: int):
        u = self._draw("renewal", sub_id, period_end)
        with self._lock:
            reminded = (sub_id, period_end) in self._reminded
        chance = self.effects.reminded_churn if reminded else self.effects.renewal_churn
        left = u < chance
        self.decisions[("renewal", sub_id, period_end)] = Decision(
            "renewal", sub_id, period_end, now, now, u, reminded, left)
        if not left:
            return None
        self._leaving.add(sub_id)
        return lambda sb: sb.update_subscription(sub_id, cancel_at_period_end=True)

    def _maybe_withdraw(self, sub_id: str, cancel_at: int, now: int):
        pending = self._pending.setdefault(sub_id, _Pending(noticed=now, due=cancel_at))
        due_to_decide = pending.noticed + self.effects.decision_delay_days * DAY
        if now < due_to_decide and cancel_at > now + DAY:
            return None
        del self._pending[sub_id]
        u = self._draw("save", sub_id, pending.noticed)
        with self._lock:
            contacted = self._saved_at.get(sub_id, -1) >= pending.noticed
        chance = self.effects.save_treated if contacted else self.effects.save_base
        stays = u < chance
        self.decisions[("save", sub_id, pending.noticed)] = Decision(
            "save", sub_id, cancel_at, pending.noticed, now, u, contacted, not stays)
        if not stays:
            self._leaving.add(sub_id)
            return None
        return lambda sb: self._withdraw(sb, sub_id)

    def _withdraw(self, sandbox: Sandbox, sub_id: str) -> None:
        sandbox.update_subscription(sub_id, cancel_at_period_end=False, cancel_at=None)
        end = _period_end(sandbox.store.get("subscription", sub_id),
                          sandbox.store["subscription_item"].objects)
        if end is not None:
            self._stays[sub_id] = end

    def _draw(self, kind: str, sub_id: str, when: int) -> float:
        """A uniform number in [0, 1) fixed by (seed, kind, subscription, time)."""
        digest = hashlib.blake2b(f"{self.seed}:{kind}:{sub_id}:{when}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64


def _period_end(sub: dict | None, items: dict) -> int | None:
    """The subscription's renewal moment: the earliest period end of its items."""
    if sub is None:
        return None
    ends = [items[i]["current_period_end"] for i in sub["items"] if i in items]
    return min(ends) if ends else None


def _ts(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp())
