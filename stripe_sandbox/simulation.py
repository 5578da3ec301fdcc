"""The clock-driven simulation (a mixin of `Sandbox`): `advance(delta)` walks virtual time
through every due moment in order — trial_will_end (3 days ahead), scheduled cancellations,
trial ends, dunning deadlines (past_due → unpaid | canceled), renewals (each item's period
rolled by its price interval) and the end of repeating coupons (the discount is removed) —
emitting the events Stripe would at those moments.

A heap of (due time, subscription, version) avoids rescanning every subscription per step;
stale heap entries are skipped by their version.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import datetime, timedelta

from stripe_sandbox.clock import add_interval, from_ts, to_ts

TRIAL_WILL_END = 3 * 86400
TRIAL_END_STATUSES = ("active", "past_due", "paused")
RENEWING = ("active", "past_due", "unpaid")


@dataclass
class SubState:
    """Simulation settings and bookkeeping of one subscription (not part of the API object)."""

    trial_end_behavior: str = "active"
    past_due_days: int | None = None
    past_due_outcome: str | None = None
    past_due_since: int | None = None
    trial_will_end_sent: int | None = None
    version: int = 0


class Simulation:
    """Mixed into `Sandbox`."""

    def __init__(self) -> None:
        self._states: dict[str, SubState] = {}
        self._due: list[tuple[int, str, int]] = []

    def sub_state(self, sub_id: str) -> SubState:
        return self._states.setdefault(sub_id, SubState())

    def configure_subscription(self, sub_id: str, *, trial_end_behavior: str | None = None,
                               past_due_days: int | None = None, past_due_outcome: str | None = None) -> None:
        """Per-subscription simulation settings (None keeps the current / sandbox default)."""
        if trial_end_behavior is not None and trial_end_behavior not in TRIAL_END_STATUSES:
            raise ValueError(f"trial_end_behavior must be one of {TRIAL_END_STATUSES}")
        if past_due_outcome is not None and past_due_outcome not in ("unpaid", "canceled"):
            raise ValueError("past_due_outcome must be 'unpaid' or 'canceled'")
        state = self.sub_state(sub_id)
        if trial_end_behavior is not None:
            state.trial_end_behavior = trial_end_behavior
        if past_due_days is not None:
            state.past_due_days = past_due_days
        if past_due_outcome is not None:
            state.past_due_outcome = past_due_outcome
        self.reschedule(sub_id)

    def reschedule(self, sub_id: str) -> None:
        with self.lock:
            state = self.sub_state(sub_id)
            state.version += 1
            due = self._next_due(self.store.get("subscription", sub_id), state)
            if due is not None:
                heapq.heappush(self._due, (due[0], sub_id, state.version))

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by `delta`, applying every due change on the way."""
        return self.advance_to(self.clock.now + delta)

    def advance_to(self, target: datetime) -> datetime:
        with self.lock:
            while self._due and self._due[0][0] <= to_ts(target):
                due_ts, sub_id, version = heapq.heappop(self._due)
                state = self.sub_state(sub_id)
                if version != state.version:
                    continue
                if due_ts > self.clock.ts:
                    self.clock.set(from_ts(due_ts))
                self._step(sub_id, state)
            self.clock.set(target)
            return self.clock.now

    # one step ---------------------------------------------------------------------------------
    def _next_due(self, sub: dict | None, state: SubState) -> tuple[int, str] | None:
        if sub is None or sub["status"] in ("canceled", "incomplete_expired"):
            return None
        candidates: list[tuple[int, int, str]] = []
        if sub["status"] == "trialing" and sub["trial_end"]:
            if state.trial_will_end_sent != sub["trial_end"]:
                candidates.append((sub["trial_end"] - TRIAL_WILL_END, 0, "trial_will_end"))
            candidates.append((sub["trial_end"], 2, "trial_end"))
        if sub["cancel_at"]:
            candidates.append((sub["cancel_at"], 1, "cancel"))
        if sub["status"] == "past_due" and state.past_due_since is not None:
            days = state.past_due_days if state.past_due_days is not None else self.past_due_days
            candidates.append((state.past_due_since + days * 86400, 3, "dunning"))
        discount_ends = [d["end"] for d in (self.store.get("discount", i) for i in sub["discounts"])
                         if d and d.get("end")]
        if discount_ends:
            candidates.append((min(discount_ends), 5, "discount_end"))
        if sub["status"] in RENEWING:
            ends = [self.store.get("subscription_item", i)["current_period_end"] for i in sub["items"]
                    if self.store.get("subscription_item", i)]
            if ends:
                candidates.append((min(ends), 4, "renewal"))
        if not candidates:
            return None
        when, _, kind = min(candidates)
        return when, kind

    def _step(self, sub_id: str, state: SubState) -> None:
        sub = self.store.get("subscription", sub_id)
        due = self._next_due(sub, state)
        if due is None:
            return
        kind = due[1]
        if kind == "trial_will_end":
            state.trial_will_end_sent = sub["trial_end"]
            self.emit("customer.subscription.trial_will_end", "subscription", sub)
        elif kind == "cancel":
            self._end(sub, "cancellation_requested", requested=False)
            return
        elif kind == "trial_end":
            self._change("subscription", sub, lambda s: self._end_trial(s, state))
        elif kind == "discount_end":
            self._change("subscription", sub, self._drop_ended_discounts)
        elif kind == "dunning":
            self._dunning_deadline(sub, state)
            return
        else:
            self._change("subscription", sub, self._renew)
        self.reschedule(sub_id)

    def _drop_ended_discounts(self, sub: dict) -> None:
        now = self.clock.ts
        sub["discounts"] = [i for i in sub["discounts"]
                            if not (self.store.get("discount", i) or {}).get("end") or
                            self.store.get("discount", i)["end"] > now]

    def _end_trial(self, sub: dict, state: SubState) -> None:
        trial_end = from_ts(sub["trial_end"])
        sub["status"] = state.trial_end_behavior
        sub["billing_cycle_anchor"] = sub["trial_end"]
        if state.trial_end_behavior == "past_due":
            state.past_due_since = self.clock.ts
        for item_id in sub["items"]:
            self._roll(item_id, trial_end, trial_end)
        self.invoice_subscription(sub, "subscription_cycle")

    def _renew(self, sub: dict) -> None:
        now = self.clock.ts
        anchor = from_ts(sub["billing_cycle_anchor"])
        rolled = False
        for item_id in sub["items"]:
            item = self.store.get("subscription_item", item_id)
            if item and item["current_period_end"] <= now:
                self._roll(item_id, from_ts(item["current_period_end"]), anchor)
                rolled = True
        if rolled:
            self.invoice_subscription(sub, "subscription_cycle")

    def _roll(self, item_id: str, start: datetime, anchor: datetime) -> None:
        """Give the item the period starting at `start`, ending on the anchored cycle."""
        items = self.store["subscription_item"].objects
        item = dict(items[item_id])
        recurring = self.store.get("price", item["price"])["recurring"]
        interval, count = recurring["interval"], int(recurring["interval_count"])
        n, end = 1, add_interval(anchor, interval, count)
        while end <= start:
            n += 1
            end = add_interval(anchor, interval, count * n)
        item["current_period_start"], item["current_period_end"] = to_ts(start), to_ts(end)
        items[item_id] = item

    def _dunning_deadline(self, sub: dict, state: SubState) -> None:
        outcome = state.past_due_outcome or self.past_due_outcome
        state.past_due_since = None
        if outcome == "canceled":
            self._end(sub, "payment_failed", requested=True)
        else:
            self._change("subscription", sub, lambda s: s.update(status="unpaid"))
            self.reschedule(sub["id"])

