"""The sandbox's Stripe API routes: method + path + decoded params → (status, JSON body).

Reads go straight to the store through the renderer; writes (customers over HTTP) call the
sandbox's mutation methods so they emit events like every other change.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

import orjson

from stripe_sandbox import invoice_render
from stripe_sandbox.api_errors import ApiError, invalid, missing
from stripe_sandbox.forms import as_list
from stripe_sandbox.listing import PageRequest, created_range, page_index, page_sequence
from stripe_sandbox.render import FIRST_CURRENT_SHAPE, expand_tree

if TYPE_CHECKING:
    from stripe_sandbox.sandbox import Sandbox

EVENT_RETENTION = timedelta(days=30)
NO_CUSTOMER_COUPON = "2025-09-30"  # first API version without `coupon` on customer writes
SUB_STATUSES = {"active", "past_due", "unpaid", "canceled", "incomplete", "incomplete_expired",
                "trialing", "paused", "all", "ended"}
PATHS = {"customers": "customer", "subscriptions": "subscription", "prices": "price",
         "products": "product", "coupons": "coupon", "events": "event",
         "subscription_items": "subscription_item", "invoices": "invoice"}
_LINES = re.compile(r"^/v1/invoices/([^/]+)/lines/?$")
_ROUTE = re.compile(r"^/v1/([a-z_]+)(?:/([^/]+))?/?$")


class Api:
    """Dispatches one request. Holds no state of its own."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox

    def handle(self, method: str, path: str, params: dict,
               version: str | None = None) -> tuple[int, dict | bytes]:
        """Answer one request; a `Stripe-Version` older than 2025-03-31 gets legacy shapes."""
        if path.rstrip("/") == "/v1/account" and method == "GET":
            return 200, self.sb.account()
        legacy = bool(version) and version < FIRST_CURRENT_SHAPE
        lines = _LINES.match(path)
        if lines and method == "GET":
            with self.sb.lock:
                return 200, invoice_render.invoice_lines(self.sb, lines.group(1), params, legacy)
        match = _ROUTE.match(path)
        if not match or match.group(1) not in PATHS:
            raise ApiError(404, f"Unrecognized request URL ({method}: {path}).")
        resource, obj_id = match.group(1), match.group(2)
        handler = self._handler(method, resource, obj_id)
        if method == "POST" and resource == "customers" and "coupon" in params and (version or "9") >= NO_CUSTOMER_COUPON:
            # API 2025-09-30 removed `coupon` from customer create/update (older versions keep it)
            raise invalid("Received unknown parameter: coupon", "coupon")
        with self.sb.lock:
            return 200, handler(PATHS[resource], obj_id, params, legacy)

    def _handler(self, method: str, resource: str, obj_id: str | None) -> Callable:
        if method == "GET":
            return self._retrieve if obj_id else self._list
        if resource == "customers" and method == "POST":
            return self._update_customer if obj_id else self._create_customer
        if resource == "customers" and method == "DELETE" and obj_id:
            return self._delete_customer
        raise ApiError(404, f"Unrecognized request URL ({method}: /v1/{resource}"
                       f"{'/' + obj_id if obj_id else ''}).")

    # reads ------------------------------------------------------------------------------
    def _retrieve(self, object_type: str, obj_id: str, params: dict, legacy: bool) -> dict | bytes:
        tree = expand_tree(as_list(params.get("expand")), is_list=False)
        if object_type == "customer" and obj_id in self.sb.store.deleted_customers:
            return {"id": obj_id, "object": "customer", "deleted": True}
        obj = self.sb.store.get(object_type, obj_id)
        if obj is None or (object_type == "event" and self._expired(obj)):
            raise missing(object_type, obj_id)
        renderer = self.sb.renderer
        if object_type == "event":
            return renderer.event_json(obj)
        if object_type == "invoice":
            return invoice_render.invoice_json(self.sb, obj, legacy, tree)
        if legacy:
            return renderer.legacy(object_type, renderer.render(object_type, obj, tree))
        if not tree:
            return renderer.json_of(object_type, obj)
        return renderer.render(object_type, obj, tree)

    def _list(self, object_type: str, _obj_id: None, params: dict, legacy: bool) -> bytes:
        """The page as JSON bytes, joined from per-object cached renderings when unexpanded."""
        page = PageRequest.from_params(params)
        tree = expand_tree(as_list(params.get("expand")), is_list=True)
        lister = getattr(self, f"_list_{object_type}", self._list_plain)
        rows, has_more, url = lister(object_type, page, params)
        renderer = self.sb.renderer
        if object_type == "event":
            parts = [renderer.event_json(o) for o in rows]
        elif object_type == "invoice":
            parts = [orjson.dumps(invoice_render.invoice_json(self.sb, o, legacy, tree)) for o in rows]
        elif legacy:
            parts = [orjson.dumps(renderer.legacy(object_type, renderer.render(object_type, o, tree)))
                     for o in rows]
        elif not tree:
            parts = [renderer.json_of(object_type, o) for o in rows]
        else:
            parts = [orjson.dumps(renderer.render(object_type, o, tree)) for o in rows]
        return b"".join((b'{"object":"list","data":[', b",".join(parts), b'],"has_more":',
                         b"true" if has_more else b"false", b',"url":', orjson.dumps(url), b"}"))

    def _list_plain(self, object_type: str, page: PageRequest, params: dict):
        collection = self.sb.store[object_type]
        lo, hi = created_range(collection, params.get("created"))
        accept = _field_filters(object_type, params)
        rows, more = page_index(collection, page, accept, lo, hi)
        return rows, more, f"/v1/{_path_of(object_type)}"

    def _list_subscription(self, object_type: str, page: PageRequest, params: dict):
        status = params.get("status") or None
        if status is not None and status not in SUB_STATUSES:
            raise invalid(f"Invalid status: must be one of {', '.join(sorted(SUB_STATUSES))}", "status")
        price = params.get("price") or None
        accept = _status_filter(status)
        if price:
            accept = _and(accept, lambda s: price in self._prices_of(s))
        collection = self.sb.store["subscription"]
        customer = params.get("customer") or None
        if customer:
            ids = sorted(self.sb.store.subscriptions_of(customer), key=collection.key_of.__getitem__,
                         reverse=True)
            rows, more = page_sequence([collection.objects[i] for i in ids], page, accept)
        else:
            lo, hi = created_range(collection, params.get("created"))
            rows, more = page_index(collection, page, accept, lo, hi)
        return rows, more, "/v1/subscriptions"

    def _prices_of(self, sub: dict) -> set[str]:
        items = self.sb.store["subscription_item"].objects
        return {items[i]["price"] for i in sub["items"] if i in items}

    def _list_invoice(self, object_type: str, page: PageRequest, params: dict):
        rows, more = invoice_render.list_invoices(self.sb, params)
        return rows, more, "/v1/invoices"

    def _list_subscription_item(self, object_type: str, page: PageRequest, params: dict):
        sub_id = params.get("subscription")
        if not sub_id:
            raise ApiError(400, "Missing required param: subscription.", code="parameter_missing",
                           param="subscription")
        sub = self.sb.store.get("subscription", sub_id)
        if sub is None:
            raise missing("subscription", sub_id, "subscription")
        items = self.sb.store["subscription_item"].objects
        rows, more = page_sequence([items[i] for i in sub["items"] if i in items], page)
        return rows, more, "/v1/subscription_items"

    def _list_event(self, object_type: str, page: PageRequest, params: dict):
        collection = self.sb.store["event"]
        lo, hi = created_range(collection, params.get("created"))
        retained_lo, _ = created_range(collection, {"gte": self._event_cutoff()})
        types = as_list(params.get("types"))
        if len(types) > 20:
            raise invalid("You may pass at most 20 types.", "types")
        if params.get("type"):
            types.append(params["type"])
        rows, more = page_index(collection, page, _type_filter(types) if types else None,
                                max(lo, retained_lo), hi)
        return rows, more, "/v1/events"

    def _event_cutoff(self) -> int:
        return int((self.sb.clock.now - EVENT_RETENTION).timestamp())

    def _expired(self, event: dict) -> bool:
        return event["created"] < self._event_cutoff()

    # customer writes ----------------------------------------------------------------------
    def _create_customer(self, _type: str, _id: None, params: dict, _legacy: bool) -> dict:
        fields = {k: params[k] for k in ("email", "name", "description", "phone") if k in params}
        coupon = params.get("coupon") or None
        if coupon is not None and self.sb.store.get("coupon", coupon) is None:
            raise missing("coupon", coupon, "coupon")
        customer = self.sb.create_customer(metadata=params.get("metadata") or {}, coupon=coupon, **fields)
        return self.sb.renderer.render("customer", customer)

    def _update_customer(self, _type: str, obj_id: str, params: dict, _legacy: bool) -> dict:
        if self.sb.store.get("customer", obj_id) is None or obj_id in self.sb.store.deleted_customers:
            raise missing("customer", obj_id)
        fields = {k: params[k] for k in ("email", "name", "description", "phone") if k in params}
        if "coupon" in params:  # '' removes the discount, as Stripe's older versions did
            if params["coupon"] and self.sb.store.get("coupon", params["coupon"]) is None:
                raise missing("coupon", params["coupon"], "coupon")
            self.sb.set_customer_coupon(obj_id, params["coupon"] or None)
        customer = self.sb.update_customer(obj_id, metadata=params.get("metadata"), **fields)
        return self.sb.renderer.render("customer", customer)

    def _delete_customer(self, _type: str, obj_id: str, _params: dict, _legacy: bool) -> dict:
        if self.sb.store.get("customer", obj_id) is None or obj_id in self.sb.store.deleted_customers:
            raise missing("customer", obj_id)
        self.sb.delete_customer(obj_id)
        return {"id": obj_id, "object": "customer", "deleted": True}


def _path_of(object_type: str) -> str:
    return next(path for path, t in PATHS.items() if t == object_type)


def _and(first, second):
    if first is None:
        return second
    return lambda o: first(o) and second(o)


def _status_filter(status: str | None):
    if status is None:
        return lambda s: s["status"] != "canceled"
    if status == "all":
        return None
    if status == "ended":
        return lambda s: s["status"] in ("canceled", "incomplete_expired")
    return lambda s: s["status"] == status


def _type_filter(types: list[str]):
    exact = {t for t in types if "*" not in t}
    prefixes = tuple(t.split("*", 1)[0] for t in types if "*" in t)
    return lambda e: e["type"] in exact or (bool(prefixes) and e["type"].startswith(prefixes))


def _field_filters(object_type: str, params: dict):
    """Simple equality filters Stripe offers on plain lists (email, product, active, currency)."""
    checks = []
    if object_type == "customer" and params.get("email"):
        checks.append(lambda o, v=params["email"]: o.get("email") == v)
    if object_type == "price":
        for name in ("product", "currency", "type"):
            if params.get(name):
                checks.append(lambda o, n=name, v=params[name]: o.get(n) == v)
        if params.get("lookup_keys"):
            keys = set(as_list(params["lookup_keys"]))
            checks.append(lambda o: o.get("lookup_key") in keys)
    if object_type in ("price", "product") and params.get("active") in ("true", "false"):
        checks.append(lambda o, v=params["active"] == "true": o.get("active") is v)
    if not checks:
        return None
    return lambda o: all(check(o) for check in checks)
