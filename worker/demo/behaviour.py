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
Every decision is recorded (`Decision`, with the band of `u` in which the arm changes the
outcome) for `worker.demo.truth`.

**Heterogeneous customers** (`heterogeneous=True`, the default): each customer has a churn
risk r ∈ {0.4 (60% of customers), 1.2 (30%), 3.5 (10%)} (mean ≈ 1) — its renewal churn is
1 − (1 − renewal_churn)^r and its notice rate notice_rate × r — and its own responsiveness
m ~ U(0, 2) (mean 1): reminded, its churn is cut by 1 − (1 − reminder_effect)^m instead of
reminder_effect, and a save message lifts its withdrawal chance to
1 − (1 − save_base)·((1 − save_treated)/(1 − save_base))^m. Both transforms keep 0 and 1
fixed and give the configured value at r = m = 1; both are drawn once per customer, arm-blind.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field, replace
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
    heterogeneous: bool = True       # customers differ in churn risk and in responsiveness

    @property
    def reminded_churn(self) -> float:
        return self.renewal_churn * (1 - self.reminder_effect)

    def without_effect(self) -> Effects:
        """The same customers, deaf to every automation (true lift 0)."""
        return replace(self, reminder_effect=0.0, save_treated=self.save_base)

    def churn(self, risk: float, response: float, reminded: bool) -> float:
        """This customer's chance to leave at a renewal."""
        base = 1 - (1 - self.renewal_churn) ** risk
        return base * (1 - self.reminder_effect) ** response if reminded else base

    def stays(self, response: float, contacted: bool) -> float:
        """This customer's chance to withdraw a scheduled cancellation."""
        if not contacted or self.save_base >= 1:
            return self.save_base
        return 1 - (1 - self.save_base) * ((1 - self.save_treated) / (1 - self.save_base)) ** response


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
    low: float = 0.0    # the arm changes the outcome exactly when low <= u < high
    high: float = 0.0


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
    _traits: dict[str, tuple[float, float]] = field(default_factory=dict)
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
            return self._maybe_withdraw(sub_id, sub["cancel_at"], now, sub["customer"])
        if now < period_end <= now + DAY:
            if self._stays.get(sub_id) == period_end:
                return None
            return self._renewal(sub_id, period_end, now, sub["customer"])
        if (sub["status"] == "active" and period_end > now + 3 * DAY and self._stays.get(sub_id) != period_end
                and self._draw("notice", sub_id, now) < self.effects.notice_rate * self.traits(sub["customer"])[0]):
            self._pending[sub_id] = _Pending(noticed=now, due=period_end)
            return lambda sb: sb.update_subscription(sub_id, cancel_at_period_end=True)
        return None

    def _renewal(self, sub_id: str, period_end: int, now: int, customer: str):
        u = self._draw("renewal", sub_id, period_end)
        with self._lock:
            reminded = (sub_id, period_end) in self._reminded
        risk, response = self.traits(customer)
        low, high = self.effects.churn(risk, response, True), self.effects.churn(risk, response, False)
        left = u < (low if reminded else high)
        self.decisions[("renewal", sub_id, period_end)] = Decision(
            "renewal", sub_id, period_end, now, now, u, reminded, left, low, high)
        if not left:
            return None
        self._leaving.add(sub_id)
        return lambda sb: sb.update_subscription(sub_id, cancel_at_period_end=True)

    def _maybe_withdraw(self, sub_id: str, cancel_at: int, now: int, customer: str):
        pending = self._pending.setdefault(sub_id, _Pending(noticed=now, due=cancel_at))
        due_to_decide = pending.noticed + self.effects.decision_delay_days * DAY
        if now < due_to_decide and cancel_at > now + DAY:
            return None
        del self._pending[sub_id]
        u = self._draw("save", sub_id, pending.noticed)
        with self._lock:
            contacted = self._saved_at.get(sub_id, -1) >= pending.noticed
        response = self.traits(customer)[1]
        low, high = self.effects.stays(response, False), self.effects.stays(response, True)
        stays = u < (high if contacted else low)
        self.decisions[("save", sub_id, pending.noticed)] = Decision(
            "save", sub_id, cancel_at, pending.noticed, now, u, contacted, not stays, min(low, high), max(low, high))
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

    def traits(self, customer: str) -> tuple[float, float]:
        """(churn risk r, responsiveness m) of a customer, fixed by the seed; (1, 1) when homogeneous."""
        if not self.effects.heterogeneous:
            return 1.0, 1.0
        found = self._traits.get(customer)
        if found is None:
            u = self._draw("risk", customer, 0)
            found = self._traits[customer] = (0.4 if u < 0.6 else 1.2 if u < 0.9 else 3.5,
                                              2 * self._draw("response", customer, 0))
        return found

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
