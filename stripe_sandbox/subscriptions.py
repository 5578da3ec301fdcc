"""Subscription mutations of the sandbox (a mixin of `Sandbox`): create, update (quantity,
price change, scheduled cancellation), cancel now, payment failed / succeeded. Each emits the
event Stripe would, with `previous_attributes` on updates."""

from __future__ import annotations

from datetime import datetime

from stripe_sandbox import catalog
from stripe_sandbox.clock import from_ts, to_ts

_UNSET = object()
ENDED = ("canceled", "incomplete_expired")


class SubscriptionMutations:
    """Mixed into `Sandbox`; relies on its store, clock, lock, emit, _change and scheduling."""

    def create_subscription(self, customer: str, items: list[dict], *, trial_end: datetime | None = None,
                            coupon: str | None = None, coupons: list[str] | None = None,
                            metadata: dict | None = None, cancel_at_period_end: bool = False,
                            cancel_at: datetime | None = None, trial_end_behavior: str = "active",
                            past_due_days: int | None = None, past_due_outcome: str | None = None,
                            currency: str | None = None, emit: bool = True) -> dict:
        """A subscription of `items` ([{"price": id, "quantity": n, "coupons": [ids]}]: item-level
        coupons optional), trialing if `trial_end` is in the future. `currency`: the
        subscription's, when not its prices' default (each price needs `currency_options` for
        it, as Stripe requires). `trial_end_behavior`: status at trial end (active | past_due |
        paused)."""
        with self.lock:
            sub = self.build_subscription(customer, items, trial_end=trial_end,
                                          coupons=[*([coupon] if coupon else []), *(coupons or [])],
                                          metadata=metadata, created=self.clock.now, currency=currency)
            self.configure_subscription(sub["id"], trial_end_behavior=trial_end_behavior,
                                        past_due_days=past_due_days, past_due_outcome=past_due_outcome)
            if cancel_at_period_end or cancel_at:
                self._schedule_cancel(sub, cancel_at_period_end, cancel_at)
            # The first invoice: the first period, or 0.00 for the trial (as Stripe bills it).
            self.invoice_subscription(sub, "subscription_create", free=sub["status"] == "trialing")
            if emit:
                self.emit("customer.subscription.created", "subscription", sub)
            self.reschedule(sub["id"])
            return sub

    def build_subscription(self, customer: str, items: list[dict], *, created: datetime,
                           trial_end: datetime | None = None, coupons: list[str] = (),
                           metadata: dict | None = None, status: str | None = None,
                           index: bool = True, currency: str | None = None) -> dict:
        """Store a subscription (and its items and discounts) without emitting events."""
        store, now = self.store, self.clock.now
        if customer not in store["customer"].objects:
            raise KeyError(f"no customer {customer!r} in the sandbox")
        prices = [self._get("price", item["price"]) for item in items]
        if currency is None:
            if not prices or len({p["currency"] for p in prices}) != 1:
                raise ValueError("a subscription needs items whose prices share one currency")
            currency = prices[0]["currency"]
        currency = currency.lower()
        for price in prices:
            if price["currency"] != currency and currency not in (price.get("currency_options") or {}):
                raise ValueError(f"price {price['id']} has no currency option for {currency}")
        trialing = trial_end is not None and trial_end > now
        anchor = trial_end if trial_end is not None else created
        sub_id = store.new_id("subscription")
        sub = catalog.subscription(
            sub_id, to_ts(created), customer, currency,
            status=status or ("trialing" if trialing else "active"), anchor=anchor,
            trial_start=to_ts(created) if trial_end else None,
            trial_end=to_ts(trial_end) if trial_end else None, metadata=metadata)
        for item, price in zip(items, prices):
            item_obj = catalog.subscription_item(
                store.new_id("subscription_item"), to_ts(created), sub_id, price,
                int(item.get("quantity", 1)), anchor, now, trial_end)
            for coupon_id in item.get("coupons") or ():
                disc = catalog.discount(store.new_id("discount"), self._get("coupon", coupon_id), customer,
                                        None, created, subscription_item=item_obj["id"])
                store.add("discount", disc, index=False)
                item_obj["discounts"].append(disc["id"])
            store.add("subscription_item", item_obj, index=False)
            sub["items"].append(item_obj["id"])
        for coupon_id in coupons:
            disc = catalog.discount(store.new_id("discount"), self._get("coupon", coupon_id),
                                    customer, sub_id, created)
            store.add("discount", disc, index=False)
            sub["discounts"].append(disc["id"])
        store.add("subscription", sub, index=index)
        return sub

    def update_subscription(self, sub_id: str, *, items: list[dict] | None = None,
                            cancel_at_period_end: bool | None = None, cancel_at: object = _UNSET,
                            metadata: dict | None = None, coupon: object = _UNSET) -> dict:
        """Change items ({"id", "quantity"|"price"|"deleted"} or a new {"price", "quantity"}),
        schedule/unschedule cancellation, metadata, or replace the coupon (None removes)."""
        with self.lock:
            sub = self._get("subscription", sub_id)

            before = {i: (self.store.get("subscription_item", i)["price"],
                          int(self.store.get("subscription_item", i).get("quantity") or 0)) for i in sub["items"]}

            def mutate(s: dict) -> None:
                if items is not None:
                    self._apply_items(s, items)
                    lines = self.proration_lines(s, before) if s["status"] in ("active", "past_due") else []
                    if lines:  # invoiced at once (proration_behavior=always_invoice)
                        self.invoice_subscription(s, "subscription_update", lines=lines)
                if cancel_at_period_end is not None or cancel_at is not _UNSET:
                    self._schedule_cancel(s, bool(cancel_at_period_end),
                                          None if cancel_at is _UNSET else cancel_at)
                if metadata is not None:
                    s["metadata"] = {**s["metadata"], **{k: str(v) for k, v in metadata.items()}}
                if coupon is not _UNSET:
                    s["discounts"] = []
                    if coupon is not None:
                        disc = catalog.discount(self.store.new_id("discount"), self._get("coupon", coupon),
                                                s["customer"], s["id"], self.clock.now)
                        self.store.add("discount", disc, index=False)
                        s["discounts"] = [disc["id"]]

            self._change("subscription", sub, mutate)
            self.reschedule(sub_id)
            return sub

    def _apply_items(self, sub: dict, changes: list[dict]) -> None:
        store, now = self.store, self.clock.now
        ids = list(sub["items"])
        for change in changes:
            if "id" not in change:
                price = self._get("price", change["price"])
                item = catalog.subscription_item(store.new_id("subscription_item"), self.clock.ts,
                                                 sub["id"], price, int(change.get("quantity", 1)),
                                                 from_ts(sub["billing_cycle_anchor"]), now,
                                                 from_ts(sub["trial_end"]) if sub["trial_end"] else None)
                store.add("subscription_item", item, index=False)
                ids.append(item["id"])
                continue
            item = dict(self._get("subscription_item", change["id"]))
            if change.get("deleted"):
                ids.remove(item["id"])
                continue
            if "price" in change:
                item["price"] = self._get("price", change["price"])["id"]
            if "quantity" in change:
                item["quantity"] = int(change["quantity"])
            store["subscription_item"].objects[item["id"]] = item
        sub["items"] = ids

    def _schedule_cancel(self, sub: dict, at_period_end: bool, cancel_at: datetime | None) -> None:
        if at_period_end:
            ends = [self.store.get("subscription_item", i)["current_period_end"] for i in sub["items"]]
            sub.update(cancel_at_period_end=True, cancel_at=min(ends), canceled_at=self.clock.ts)
        elif cancel_at is not None:
            sub.update(cancel_at_period_end=False, cancel_at=to_ts(cancel_at), canceled_at=self.clock.ts)
        else:
            sub.update(cancel_at_period_end=False, cancel_at=None, canceled_at=None)

    def cancel_subscription(self, sub_id: str, *, reason: str = "cancellation_requested") -> dict:
        """Cancel now: status canceled, canceled_at = ended_at = now, customer.subscription.deleted."""
        with self.lock:
            sub = self._get("subscription", sub_id)
            if sub["status"] in ENDED:
                return sub
            self._end(sub, reason, requested=True)
            return sub

    def _end(self, sub: dict, reason: str, *, requested: bool) -> None:
        sub.update(status="canceled", ended_at=self.clock.ts,
                   cancellation_details={"comment": None, "feedback": None, "reason": reason})
        if requested or sub["canceled_at"] is None:
            sub["canceled_at"] = self.clock.ts
        self.emit("customer.subscription.deleted", "subscription", sub)
        self.reschedule(sub["id"])

    def fail_payment(self, sub_id: str) -> dict:
        """A renewal payment failed: → past_due (the dunning clock starts now)."""
        with self.lock:
            sub = self._get("subscription", sub_id)
            if sub["status"] in ENDED:
                raise ValueError(f"{sub_id} is {sub['status']}")
            self.sub_state(sub_id).past_due_since = self.clock.ts
            self.invoice_failed(sub_id)
            self._change("subscription", sub, lambda s: s.update(status="past_due"))
            self.reschedule(sub_id)
            return sub

    def pay(self, sub_id: str) -> dict:
        """The outstanding payment succeeded: past_due / unpaid / paused → active."""
        with self.lock:
            sub = self._get("subscription", sub_id)
            if sub["status"] in ENDED:
                raise ValueError(f"{sub_id} is {sub['status']}")
            self.sub_state(sub_id).past_due_since = None
            self.invoice_paid(sub_id)
            self._change("subscription", sub, lambda s: s.update(status="active"))
            self.reschedule(sub_id)
            return sub

    payment_succeeded = pay
    payment_failed = fail_payment
