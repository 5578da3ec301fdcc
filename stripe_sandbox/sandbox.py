"""The `Sandbox`: a local Stripe look-alike with a virtual clock, events for every change and
fault injection. This module holds the lifecycle (start/stop), event emission and the
customer and catalog mutations; subscription mutations live in `subscriptions.py` and the
clock-driven simulation in `simulation.py`.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import orjson

from stripe_sandbox import catalog
from stripe_sandbox.clock import VirtualClock
from stripe_sandbox.faults import Faults
from stripe_sandbox.invoices import Invoicing
from stripe_sandbox.render import FIRST_CURRENT_SHAPE, Renderer
from stripe_sandbox.server import SandboxServer
from stripe_sandbox.simulation import Simulation
from stripe_sandbox.store import ObjectStore
from stripe_sandbox.subscriptions import SubscriptionMutations
from stripe_sandbox.webhooks import Webhooks

CURRENT_API_VERSION = "2026-10-28.endive"


class Sandbox(SubscriptionMutations, Simulation, Invoicing):
    """A Stripe API sandbox over real HTTP. See the package docstring for the interface."""

    def __init__(self, api_key: str = "sk_test_sandbox", start: datetime | None = None, *,
                 seed: int | None = None, past_due_days: int = 14,
                 past_due_outcome: str = "canceled", port: int = 0) -> None:
        self.api_key = api_key
        # restricted key → permissions like {"customers:read", "events:read"} (else 403)
        self.restricted_keys: dict[str, set[str]] = {}
        self.api_version = CURRENT_API_VERSION
        self.event_api_version = CURRENT_API_VERSION
        self.clock = VirtualClock(start or datetime(2026, 11, 1, tzinfo=UTC))
        self.store = ObjectStore(seed)
        self.renderer = Renderer(self.store)
        self.faults = Faults()
        self.webhooks = Webhooks()  # add_endpoint(url) → every event POSTed, signed
        self.lock = threading.RLock()
        self.past_due_days = past_due_days
        self.past_due_outcome = past_due_outcome
        self._port = port
        self._server: SandboxServer | None = None
        Simulation.__init__(self)
        self._invoicing_init()

    # lifecycle ------------------------------------------------------------------------------
    def start(self) -> str:
        if self._server is None:
            self._server = SandboxServer(self, port=self._port)
            self._server.start()
        return self._server.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not started: call start() first")
        return self._server.url

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def account(self) -> dict:
        return {"id": "acct_sandbox", "object": "account", "business_type": "company",
                "business_profile": {"name": "Sandbox Inc", "url": None},
                "settings": {"dashboard": {"display_name": "Sandbox Inc", "timezone": "Etc/UTC"}},
                "charges_enabled": True, "payouts_enabled": True, "country": "US",
                "default_currency": "usd", "details_submitted": True,
                "email": "billing@sandbox.test", "type": "standard", "created": 1577836800,
                "metadata": {}}

    # events ---------------------------------------------------------------------------------
    def emit(self, event_type: str, object_type: str, obj: dict,
             previous: dict | None = None, *, at: int | None = None) -> dict:
        """Record an event whose payload is `obj` as rendered now, in `event_api_version`,
        created now (or at Unix time `at`, for back-filled history)."""
        with self.lock:
            self.store.touch()
            rendered = self.renderer.render(object_type, obj)
            if self.event_api_version < FIRST_CURRENT_SHAPE:
                rendered = self.renderer.legacy(object_type, rendered)
            data: dict = {"object": rendered}
            if previous is not None:
                data["previous_attributes"] = previous
            event = {
                "id": self.store.new_id("event"), "object": "event",
                "api_version": self.event_api_version, "created": self.clock.ts if at is None else at,
                "data": orjson.loads(orjson.dumps(data)), "livemode": False, "pending_webhooks": 0,
                "request": {"id": None, "idempotency_key": None}, "type": event_type,
            }
            self.store.add("event", event)
            if self.webhooks.endpoints:
                self.webhooks.enqueue(event)
            return event

    def events(self, event_type: str | None = None) -> list[dict]:
        """Every recorded event, oldest first (a test helper; the API pages newest first)."""
        with self.lock:
            rows = list(self.store["event"].objects.values())
        return [e for e in rows if event_type is None or e["type"] == event_type]

    def _change(self, object_type: str, obj: dict, mutate, event_type: str | None = None) -> dict:
        """Apply `mutate(obj)` and emit `<type>.updated` with `previous_attributes`."""
        with self.lock:
            before = self.renderer.render(object_type, obj)
            mutate(obj)
            self.store.touch()
            after = self.renderer.render(object_type, obj)
            previous = previous_attributes(before, after)
            if previous:
                self.emit(event_type or f"{_event_prefix(object_type)}.updated", object_type, obj, previous)
            return obj

    # customers ------------------------------------------------------------------------------
    def create_customer(self, *, email: str | None = None, name: str | None = None,
                        metadata: dict | None = None, description: str | None = None,
                        phone: str | None = None, coupon: str | None = None) -> dict:
        """A customer; `coupon` gives it a customer-level discount (`customer.discount`)."""
        with self.lock:
            obj = catalog.customer(self.store.new_id("customer"), self.clock.ts, email=email,
                                   name=name, metadata=metadata, description=description, phone=phone)
            self.store.add("customer", obj)
            if coupon:
                obj["discount"] = self._customer_discount(obj["id"], coupon)
            self.emit("customer.created", "customer", obj)
            if coupon:
                self.emit("customer.discount.created", "discount", self.store.get("discount", obj["discount"]))
            return obj

    def set_customer_coupon(self, customer_id: str, coupon: str | None) -> dict:
        """Apply `coupon` to the customer (replacing its discount), or remove it (None), with
        Stripe's events: `customer.discount.created|updated|deleted` and `customer.updated`."""
        with self.lock:
            obj = self._get("customer", customer_id)
            old = self.store.get("discount", obj["discount"]) if obj.get("discount") else None
            new_id = self._customer_discount(customer_id, coupon) if coupon else None
            self._change("customer", obj, lambda o: o.update(discount=new_id))
            if new_id is not None:
                kind = "customer.discount.updated" if old else "customer.discount.created"
                self.emit(kind, "discount", self.store.get("discount", new_id))
            elif old is not None:
                self.emit("customer.discount.deleted", "discount", old)
            return obj

    def _customer_discount(self, customer_id: str, coupon_id: str) -> str:
        disc = catalog.discount(self.store.new_id("discount"), self._get("coupon", coupon_id), customer_id,
                                None, self.clock.now)
        self.store.add("discount", disc, index=False)
        return disc["id"]

    def update_customer(self, customer_id: str, *, metadata: dict | str | None = None,
                        **fields: object) -> dict:
        """Update fields; `metadata` merges like Stripe (a '' or None value removes the key)."""
        with self.lock:
            obj = self._get("customer", customer_id)

            def mutate(o: dict) -> None:
                o.update(fields)
                if metadata == "":  # `metadata=` unsets every key, like Stripe
                    o["metadata"] = {}
                elif metadata is not None:
                    merged = dict(o["metadata"])
                    for k, v in metadata.items():
                        if v in ("", None):
                            merged.pop(k, None)
                        else:
                            merged[k] = str(v)
                    o["metadata"] = merged

            return self._change("customer", obj, mutate)

    def delete_customer(self, customer_id: str) -> None:
        """customer.deleted; its live subscriptions are canceled first (each emits its event)."""
        with self.lock:
            obj = self._get("customer", customer_id)
            for sub_id in self.store.subscriptions_of(customer_id):
                if self.store.get("subscription", sub_id)["status"] not in ("canceled", "incomplete_expired"):
                    self.cancel_subscription(sub_id)
            self.emit("customer.deleted", "customer", obj)
            self.store.deleted_customers.add(customer_id)
            self.store["customer"].unlist(customer_id)
            self.store.touch()

    # catalog --------------------------------------------------------------------------------
    def create_product(self, name: str, *, metadata: dict | None = None, emit: bool = True) -> dict:
        with self.lock:
            obj = catalog.product(self.store.new_id("product"), self.clock.ts, name, metadata=metadata)
            self.store.add("product", obj)
            if emit:
                self.emit("product.created", "product", obj)
            return obj

    def create_price(self, product_id: str, currency: str = "usd", *, emit: bool = True,
                     **fields: object) -> dict:
        """A recurring price; fields as `catalog.price` (interval, unit_amount, tiers, …)."""
        with self.lock:
            self._get("product", product_id)
            obj = catalog.price(self.store.new_id("price"), self.clock.ts, product_id, currency, **fields)
            self.store.add("price", obj)
            if emit:
                self.emit("price.created", "price", obj)
            return obj

    def create_coupon(self, *, coupon_id: str | None = None, emit: bool = True, **fields: object) -> dict:
        """A coupon; fields as `catalog.coupon` (percent_off | amount_off+currency, duration…)."""
        with self.lock:
            obj = catalog.coupon(coupon_id or self.store.new_id("coupon"), self.clock.ts, **fields)
            self.store.add("coupon", obj)
            if emit:
                self.emit("coupon.created", "coupon", obj)
            return obj

    # malformed objects ------------------------------------------------------------------------
    def inject_malformed(self, obj_id: str, *, emit: bool = True, **fields: object) -> None:
        """Serve `obj_id` with `fields` replaced verbatim (e.g. items="garbage", created="x"),
        for quarantine tests; emits an updated event for it unless `emit=False`."""
        with self.lock:
            object_type = self._type_of(obj_id)
            obj = self._get(object_type, obj_id)
            self.renderer.overrides[obj_id] = dict(fields)
            self.store.touch()
            if emit:
                self.emit(f"{_event_prefix(object_type)}.updated", object_type, obj, {})

    def clear_malformed(self, obj_id: str) -> None:
        with self.lock:
            self.renderer.overrides.pop(obj_id, None)
            self.store.touch()

    # helpers --------------------------------------------------------------------------------
    def _get(self, object_type: str, obj_id: str) -> dict:
        obj = self.store.get(object_type, obj_id)
        if obj is None:
            raise KeyError(f"no {object_type} {obj_id!r} in the sandbox")
        return obj

    def _type_of(self, obj_id: str) -> str:
        for object_type, collection in self.store.collections.items():
            if obj_id in collection.objects:
                return object_type
        raise KeyError(f"no object {obj_id!r} in the sandbox")

    def drop_caches(self) -> None:
        """Forget cached JSON renderings (benchmarks: make a second pass as cold as the first)."""
        with self.lock:
            self.store.touch()
            self.renderer.drop_caches()

    def retrieve(self, object_type: str, obj_id: str) -> dict:
        """The object as the API would render it now (a test helper)."""
        with self.lock:
            return self.renderer.render(object_type, self._get(object_type, obj_id))


def previous_attributes(before: dict, after: dict) -> dict:
    """Stripe's `previous_attributes`: the old value of each changed field; inside plain
    hashes (e.g. metadata) only the changed keys, with null for keys that were added."""
    previous: dict = {}
    for key in after.keys() | before.keys():
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict) and old.get("object") != "list":
            previous[key] = {k: old.get(k) for k in old.keys() | new.keys() if old.get(k) != new.get(k)}
        else:
            previous[key] = old
    return previous


def _event_prefix(object_type: str) -> str:
    return "customer.subscription" if object_type == "subscription" else object_type
