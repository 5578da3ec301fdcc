"""Reading complete Stripe objects from the API in either shape (wiring over `StripeApi`).

Stripe returns nested lists truncated (items: first 10), leaves discount coupons as ids, and
returns *includable* fields only when a request expands them: price `tiers` and
`currency_options` (with `currency_options.<cur>.tiers`), coupon `applies_to` and
`currency_options`. `expand` reaches at most 4 levels, counting a list's `data.`, so those
fields cannot be expanded inside a subscription list (`data.items.data.price.tiers` is 5).
`StripeSource` therefore lists prices and coupons with their includable fields expanded, pages
the rest, and inlines into each subscription what MRR needs: tiers of tiered prices, the
price's currency option in the subscription's currency when that is not the price's default,
and full coupons (with `applies_to` and `currency_options`) in every discount — subscription,
item and customer level. Each subscription is stored as one complete object, the storage
contract the MRR code reads. It probes the server once: a server without `/v1/prices`
(localstripe, API 2017) is read in the legacy dialect (plans, no `expand`).
The probe's answer is remembered per API base (`ShapeMemo`), so it is asked once (again only on
`sync --full`), not on every re-fetch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from worker.stripe_api.transport import NotFound, StripeApi
from worker.sync import shapes

Json = dict[str, Any]

SUB_EXPAND = ["discounts", "items.data.discounts"]
PRICE_EXPAND = ["tiers", "currency_options"]
COUPON_EXPAND = ["applies_to", "currency_options"]
MAX_EXPAND_DEPTH = 4  # Stripe's limit, counting a list's `data.`
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


class CouponMemo:
    """Coupons this process read recently, per (account, API base): a webhook's re-fetch of a
    subscription whose coupon another re-fetch (or the backfill's coupon list) read within
    `ttl` asks Stripe nothing, where each re-fetch used to ask `GET /v1/coupons/{id}` again.

    A coupon's `amount_off`, `percent_off`, `duration` and `applies_to` cannot change in Stripe
    (only its name, metadata and `currency_options` can), and the mirror follows no coupon
    events anyway, so a copy up to `ttl` old is as good as a fresh one; the daily reconcile
    lists every coupon and refreshes it. Bounded: past `limit` entries it starts over."""

    def __init__(self, ttl: float = 900.0, limit: int = 5_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.limit, self._clock = ttl, limit, clock
        self._lock = threading.Lock()
        self._coupons: dict[tuple[str, str], tuple[float, Json | None]] = {}

    def get(self, scope: str, coupon_id: str) -> tuple[bool, Json | None]:
        """(known, coupon): known is False when not read within `ttl`."""
        with self._lock:
            found = self._coupons.get((scope, coupon_id))
        if found is None or self._clock() - found[0] > self.ttl:
            return False, None
        return True, found[1]

    def put(self, scope: str, coupon_id: str, coupon: Json | None) -> None:
        with self._lock:
            if len(self._coupons) >= self.limit:
                self._coupons.clear()
            self._coupons[(scope, coupon_id)] = (self._clock(), coupon)


class StripeSource:
    """List and retrieve customers, subscriptions, prices, products and coupons, complete."""

    def __init__(self, api: StripeApi, *, stored_price: Callable[[str], Json | None] = lambda _id: None,
                 shape_memo: ShapeMemo | None = None, coupon_memo: CouponMemo | None = None,
                 coupon_scope: str = "", stored_coupons: Callable[[str], dict[str, Json]] = lambda _id: {}):
        self.api = api
        self._stored_price = stored_price
        self._stored_coupons = stored_coupons
        self._memo = shape_memo
        self._coupon_memo, self._coupon_scope = coupon_memo, f"{coupon_scope} {getattr(api, 'api_base', '')}"
        self._legacy: bool | None = None
        self.prices: dict[str, Json] = {}
        self.coupons: dict[str, Json | None] = {}

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
            return ("/v1/plans", {}) if self.legacy else ("/v1/prices", {"expand": [f"data.{e}" for e in PRICE_EXPAND]})
        if kind == "coupons" and not self.legacy:
            return "/v1/coupons", {"expand": [f"data.{e}" for e in COUPON_EXPAND]}
        return f"/v1/{kind}", {}

    def pages(self, kind: str, starting_after: str | None = None,
              created: dict[str, int] | None = None) -> Iterator[list[Any]]:
        """Each page of the full list of `kind` (or of its objects in a `created` range:
        worker.sync.slices), newest first, from after `starting_after`."""
        path, params = self.list_spec(kind)
        if created:
            params = {**params, "created": created}
        for page in self.api.pages(path, params, starting_after=starting_after):
            data = page["data"]
            if kind == "prices" and not self.legacy:
                data = [self._with_option_tiers(p) for p in data]
            yield data

    def load_coupons(self) -> None:
        for page in self.pages("coupons"):
            self.coupons.update({c["id"]: c for c in page if isinstance(c, dict) and "id" in c})
        if self._coupon_memo is not None:
            for coupon_id, coupon in self.coupons.items():
                self._coupon_memo.put(self._coupon_scope, coupon_id, coupon)

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

    def price(self, price_id: str, *, refresh: bool = False, currency: str | None = None) -> Json | None:
        """A full price (tiers, currency options): from this run, the store, or Stripe.
        `currency`: the one whose option must be there (a stored price synced before options
        were read is fetched again)."""
        if not refresh:
            found = self.prices.get(price_id) or self._stored_price(price_id)
            if found is not None and _is_full(found, currency, legacy=self.legacy):
                return found
        if self.legacy:
            found = self.api.get_or_none(f"/v1/plans/{price_id}")
        else:
            found = self.api.get_or_none(f"/v1/prices/{price_id}", {"expand": PRICE_EXPAND})
            found = self._with_option_tiers(found) if found is not None else None
        if found is not None:
            self.prices[price_id] = found
        return found

    def _with_option_tiers(self, price: Any) -> Any:
        """A tiered price's other-currency options carry tiers only when each is expanded by
        name (`currency_options.eur.tiers`): one more request for such (rare) prices."""
        if not isinstance(price, dict) or price.get("billing_scheme") != "tiered":
            return price
        options = price.get("currency_options")
        missing = sorted(c for c, o in options.items() if isinstance(o, dict) and o.get("tiers") is None
                         and c != price.get("currency")) if isinstance(options, dict) else []
        if not missing or not isinstance(price.get("id"), str):
            return price
        expand = [*PRICE_EXPAND, *(f"currency_options.{c}.tiers" for c in missing)]
        return self.api.get_or_none(f"/v1/prices/{price['id']}", {"expand": expand}) or price

    def coupon(self, coupon_id: str) -> Json | None:
        """The full coupon (with `applies_to` and `currency_options`): from this run, this
        process's recent reads (`CouponMemo`) or Stripe."""
        if coupon_id not in self.coupons:
            known, coupon = (self._coupon_memo.get(self._coupon_scope, coupon_id)
                             if self._coupon_memo is not None else (False, None))
            if not known:
                params = {} if self.legacy else {"expand": COUPON_EXPAND}
                # a deleted coupon answers 404: remembered as None, so it is asked for once per run
                coupon = self.api.get_or_none(f"/v1/coupons/{coupon_id}", params)
                if self._coupon_memo is not None:
                    self._coupon_memo.put(self._coupon_scope, coupon_id, coupon)
            self.coupons[coupon_id] = coupon
        return self.coupons[coupon_id]

    # --- completing a subscription -----------------------------------------------------

    def complete(self, raw: Json) -> Json:
        """The subscription with every item, full prices and discounts with their coupons.

        Call after `shapes.check_subscription`; raises `shapes.Malformed` for what cannot be
        completed (a discount left as a bare id, an item page that is not a list).
        """
        raw = dict(raw)
        if any(c not in self.coupons for c in coupon_ids(raw)):
            # the coupons of the stored copy: a re-fetched subscription usually keeps its coupon
            for coupon_id, coupon in self._stored_coupons(raw["id"]).items():
                self.coupons.setdefault(coupon_id, coupon)
        items = dict(raw["items"])
        data = list(items["data"])
        if items.get("has_more"):
            data.extend(self._more_items(raw["id"], data[-1]["id"] if data else None))
            items["has_more"] = False
        currency = str(shapes.subscription_currency(raw) or "").lower()
        items["data"] = [self._complete_item(item, raw["id"], currency) for item in data]
        raw["items"] = items
        if isinstance(raw.get("discounts"), list):
            raw["discounts"] = [self._complete_discount(d, f"subscription {raw['id']}") for d in raw["discounts"]]
        if isinstance(raw.get("discount"), dict):
            raw["discount"] = self._complete_discount(raw["discount"], f"subscription {raw['id']}")
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

    def complete_customer(self, raw: Any) -> Any:
        """The customer with its discount's coupon in full (a customer-level discount)."""
        if not isinstance(raw, dict) or not isinstance(raw.get("discount"), dict):
            return raw
        return {**raw, "discount": self._complete_discount(raw["discount"], f"customer {raw.get('id')}")}

    def _complete_item(self, item: Json, sid: str, currency: str) -> Json:
        item = dict(item)
        price = item.get("price")
        if isinstance(price, dict):
            item["price"] = self._item_price(price, sid, currency)
        if isinstance(item.get("discounts"), list):
            item["discounts"] = [self._complete_discount(d, f"subscription {sid}") for d in item["discounts"]]
        if not self.legacy and isinstance(item.get("price"), dict):
            # Stripe still sends the deprecated `plan` beside `price`, a second copy of the same
            # price (~15% of a stored subscription); everything reads `price` when it is there.
            item.pop("plan", None)
        return item

    def _item_price(self, price: Json, sid: str, currency: str) -> Json:
        """The item's price with what MRR reads that Stripe leaves out of an embedded price:
        tiers, and the currency option of a subscription not in the price's default currency."""
        other = bool(currency) and str(price.get("currency") or "").lower() != currency and not self.legacy
        tiered = price.get("billing_scheme") == "tiered"
        if not (tiered and not price.get("tiers")) and not other:
            return price
        full = self.price(price["id"], currency=currency if other else None)
        if tiered and (full is None or not full.get("tiers")):
            raise shapes.Malformed(f"tiered price {price['id']} of subscription {sid} has no readable tiers")
        out = {**price, "tiers": full["tiers"]} if tiered else dict(price)
        if other:
            option = _option(full, currency)
            if option is None or (tiered and not option.get("tiers")):
                raise shapes.Malformed(f"price {price['id']} of subscription {sid} has no currency option for "
                                       f"{currency.upper()} (the subscription's currency)")
            out["currency_options"] = {currency: option}  # only the one MRR needs, not every currency
        return out

    def _complete_discount(self, discount: Any, owner: str) -> Json:
        """The discount with its full coupon (includable fields read), in the shape Stripe gave."""
        if not isinstance(discount, dict):
            raise shapes.Malformed(f"{owner} has a discount that is not expanded: {discount!r}")
        coupon = shapes.discount_coupon(discount)
        if isinstance(coupon, dict) and not all(k in coupon for k in COUPON_EXPAND):
            coupon = coupon.get("id")  # embedded without its includable fields: read it in full
        if isinstance(coupon, str):
            full = self.coupon(coupon)
            if full is not None:
                return shapes.with_coupon(discount, full)
        return discount


def _discounts(raw: Json) -> Iterator[Json]:
    """Every discount of a subscription: its own (`discounts`, legacy `discount`) and its items'."""
    own = raw.get("discounts")
    yield from (d for d in own if isinstance(d, dict)) if isinstance(own, list) else ()
    if isinstance(raw.get("discount"), dict):
        yield raw["discount"]
    items = raw.get("items")
    for item in (items.get("data") or []) if isinstance(items, dict) else []:
        found = item.get("discounts") if isinstance(item, dict) else None
        yield from (d for d in found if isinstance(d, dict)) if isinstance(found, list) else ()


def coupon_ids(raw: Json) -> set[str]:
    """The ids of the coupons a subscription's discounts name (embedded or as ids)."""
    ids = set()
    for discount in _discounts(raw):
        coupon = shapes.discount_coupon(discount)
        coupon_id = coupon.get("id") if isinstance(coupon, dict) else coupon
        if isinstance(coupon_id, str):
            ids.add(coupon_id)
    return ids


def full_coupons(raw: Json) -> dict[str, Json]:
    """The full coupons (with their includable fields) inside a stored subscription, by id."""
    found = {}
    for discount in _discounts(raw):
        coupon = shapes.discount_coupon(discount)
        if isinstance(coupon, dict) and isinstance(coupon.get("id"), str) and all(k in coupon for k in COUPON_EXPAND):
            found[coupon["id"]] = coupon
    return found


def _option(price: Json | None, currency: str) -> Json | None:
    options = (price or {}).get("currency_options")
    option = options.get(currency) if isinstance(options, dict) else None
    return option if isinstance(option, dict) else None


def _is_full(price: Json, currency: str | None, *, legacy: bool) -> bool:
    """A stored price holds what a subscription in `currency` needs from it."""
    if price.get("billing_scheme") == "tiered" and not price.get("tiers"):
        return False
    if currency is None or legacy:
        return True
    option = _option(price, currency)
    return option is not None and (price.get("billing_scheme") != "tiered" or bool(option.get("tiers")))
