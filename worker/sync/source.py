"""Reading complete Stripe objects from the API in either shape (wiring over `StripeApi`).

Stripe returns nested lists truncated (items: first 10) and leaves price tiers and discount
coupons unexpanded where `expand` cannot reach (at most 4 levels). `StripeSource` pages the
rest, inlines full prices (with tiers) and coupons, and so yields each subscription as one
complete object — the storage contract the MRR code reads. It probes the server once: a
server without `/v1/prices` (localstripe, API 2017) is read in the legacy dialect (plans, no
`expand` of discounts). The answer is remembered per API base (`ShapeMemo`), so the probe is
asked once, not on every re-fetch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

from worker.stripe_api.transport import NotFound, StripeApi
from worker.sync import shapes

Json = dict[str, Any]

SUB_EXPAND = ["discounts", "items.data.discounts"]
#: Event types that change what the mirror holds (`types[]` takes at most 20).
EVENT_TYPES = [
    "customer.created", "customer.updated", "customer.deleted",
    "customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted",
    "customer.subscription.paused", "customer.subscription.resumed",
    "customer.subscription.pending_update_applied", "customer.subscription.pending_update_expired",
    "customer.subscription.trial_will_end",
    "customer.discount.created", "customer.discount.updated", "customer.discount.deleted",
    "price.created", "price.updated", "price.deleted",
    "product.created", "product.updated", "product.deleted",
]


class ShapeMemo(Protocol):
    """Where the probe's answer is remembered (the store: worker.sync.run.StoredShape), so a
    re-fetch or poll does not ask `GET /v1/prices?limit=1` again every time."""

    def read(self, api_base: str) -> bool | None: ...

    def write(self, api_base: str, legacy: bool) -> None: ...


class StripeSource:
    """List and retrieve customers, subscriptions, prices, products and coupons, complete."""

    def __init__(self, api: StripeApi, *, stored_price: Callable[[str], Json | None] = lambda _id: None,
                 shape_memo: ShapeMemo | None = None):
        self.api = api
        self._stored_price = stored_price
        self._memo = shape_memo
        self._legacy: bool | None = None
        self.prices: dict[str, Json] = {}
        self.coupons: dict[str, Json] = {}

    @property
    def legacy(self) -> bool:
        """True for a server that speaks the 2017 API (no /v1/prices): plans instead of prices."""
        if self._legacy is None and self._memo is not None:
            self._legacy = self._memo.read(self.api.api_base)
        if self._legacy is None:
            try:
                self.api.get("/v1/prices", {"limit": 1})
                self._legacy = False
            except NotFound:
                self._legacy = True
            if self._memo is not None:
                self._memo.write(self.api.api_base, self._legacy)
        return self._legacy

    # --- lists -------------------------------------------------------------------------

    def list_spec(self, kind: str) -> tuple[str, Json]:
        """Path and parameters of the full list of `kind`."""
        if kind == "subscriptions":
            params: Json = {"status": "all"}
            if not self.legacy:
                params["expand"] = [f"data.{e}" for e in SUB_EXPAND]
            return "/v1/subscriptions", params
        if kind == "prices":
            return ("/v1/plans", {}) if self.legacy else ("/v1/prices", {"expand": ["data.tiers"]})
        return f"/v1/{kind}", {}

    def pages(self, kind: str, starting_after: str | None = None) -> Iterator[list[Any]]:
        path, params = self.list_spec(kind)
        for page in self.api.pages(path, params, starting_after=starting_after):
            yield page["data"]

    def load_coupons(self) -> None:
        for page in self.pages("coupons"):
            self.coupons.update({c["id"]: c for c in page if isinstance(c, dict) and "id" in c})

    def remember_prices(self, prices: list[Json]) -> None:
        self.prices.update({p["id"]: p for p in prices})

    # --- single objects ----------------------------------------------------------------

    def retrieve(self, object_type: str, object_id: str) -> Json | None:
        """The object as Stripe has it now (`deleted: true` or None when gone)."""
        if object_type == "subscription":
            params = {} if self.legacy else {"expand": SUB_EXPAND}
            return self.api.get_or_none(f"/v1/subscriptions/{object_id}", params)
        if object_type == "customer":
            return self.api.get_or_none(f"/v1/customers/{object_id}")
        if object_type == "price":
            return self.price(object_id, refresh=True)
        if object_type == "product":
            return self.api.get_or_none(f"/v1/products/{object_id}")
        raise ValueError(f"unknown object type {object_type!r}")

    def price(self, price_id: str, *, refresh: bool = False) -> Json | None:
        """A full price with its tiers: from this run, the store, or Stripe."""
        if not refresh:
            found = self.prices.get(price_id) or self._stored_price(price_id)
            if found is not None and _has_tiers(found):
                return found
        if self.legacy:
            found = self.api.get_or_none(f"/v1/plans/{price_id}")
        else:
            found = self.api.get_or_none(f"/v1/prices/{price_id}", {"expand": ["tiers"]})
        if found is not None:
            self.prices[price_id] = found
        return found

    def coupon(self, coupon_id: str) -> Json | None:
        if coupon_id not in self.coupons:
            found = self.api.get_or_none(f"/v1/coupons/{coupon_id}")
            if found is None:
                return None
            self.coupons[coupon_id] = found
        return self.coupons[coupon_id]

    # --- completing a subscription -----------------------------------------------------

    def complete(self, raw: Json) -> Json:
        """The subscription with every item, full prices and discounts with their coupons.

        Call after `shapes.check_subscription`; raises `shapes.Malformed` for what cannot be
        completed (a discount left as a bare id, an item page that is not a list).
        """
        raw = dict(raw)
        items = dict(raw["items"])
        data = list(items["data"])
        if items.get("has_more"):
            data.extend(self._more_items(raw["id"], data[-1]["id"] if data else None))
            items["has_more"] = False
        items["data"] = [self._complete_item(item, raw["id"]) for item in data]
        raw["items"] = items
        if isinstance(raw.get("discounts"), list):
            raw["discounts"] = [self._complete_discount(d, raw["id"]) for d in raw["discounts"]]
        if isinstance(raw.get("discount"), dict):
            raw["discount"] = self._complete_discount(raw["discount"], raw["id"])
        return raw

    def _more_items(self, sid: str, after: str | None) -> list[Json]:
        params: Json = {"subscription": sid}
        if not self.legacy:
            params["expand"] = ["data.discounts"]
        more: list[Json] = []
        for page in self.api.pages("/v1/subscription_items", params, starting_after=after):
            more.extend(page["data"])
        for item in more:
            shapes.check_item(item, sid)
        return more

    def _complete_item(self, item: Json, sid: str) -> Json:
        item = dict(item)
        price = item.get("price")
        if isinstance(price, dict) and price.get("billing_scheme") == "tiered" and not _has_tiers(price):
            full = self.price(price["id"])
            if full is None or not _has_tiers(full):
                raise shapes.Malformed(f"tiered price {price['id']} of subscription {sid} has no readable tiers")
            item["price"] = full
        if isinstance(item.get("discounts"), list):
            item["discounts"] = [self._complete_discount(d, sid) for d in item["discounts"]]
        if not self.legacy and isinstance(item.get("price"), dict):
            # Stripe still sends the deprecated `plan` beside `price`, a second copy of the same
            # price (~15% of a stored subscription); everything reads `price` when it is there.
            item.pop("plan", None)
        return item

    def _complete_discount(self, discount: Any, sid: str) -> Json:
        if not isinstance(discount, dict):
            raise shapes.Malformed(f"subscription {sid} has a discount that is not expanded: {discount!r}")
        coupon = shapes.discount_coupon(discount)
        if isinstance(coupon, str):
            full = self.coupon(coupon)
            if full is not None:
                return shapes.with_coupon(discount, full)
        return discount


def _has_tiers(price: Json) -> bool:
    return price.get("billing_scheme") != "tiered" or bool(price.get("tiers"))
