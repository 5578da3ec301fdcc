"""Rendering stored objects as Stripe JSON: references embedded or expanded, nested lists cut
to their first page, *includable* fields only when expanded, and the legacy (pre-2025) shape
for old event payloads.

Includable fields (Stripe's reference: "This field is not included by default. To include it
in the response, expand the … field"), the ones the project reads: price `tiers` and
`currency_options` (and inside it `currency_options.<cur>.tiers`), coupon `applies_to` and
`currency_options`. They are absent from a response unless the request expands them, also when
the object is embedded (an item's price, a discount's coupon). The expansion depth limit is 4
levels counting the `data.` of a list (`data.items.data.discounts` is the deepest a
subscription list allows), as Stripe documents it.

Stored objects hold references as ids (`subscription.items` is a list of item ids,
`subscription.discounts` a list of discount ids, `item.price` a price id). `expand` arrives as
a tree: `{"customer": {}, "discounts": {"source": {"coupon": {}}}}`.
"""

from __future__ import annotations

import orjson

from stripe_sandbox.api_errors import invalid
from stripe_sandbox.store import ObjectStore

NESTED_PAGE = 10
MAX_EXPAND_DEPTH = 4
LEGACY_VERSION = "2024-06-20"
FIRST_CURRENT_SHAPE = "2025-03-31"  # basil: periods moved to items, `discounts` only

ExpandTree = dict[str, "ExpandTree"]


def expand_tree(paths: list[str], *, is_list: bool) -> ExpandTree:
    """Parse `expand[]` paths; list calls need the `data.` prefix, like Stripe."""
    tree: ExpandTree = {}
    for path in paths:
        parts = path.split(".")
        if len(parts) > MAX_EXPAND_DEPTH:  # counted before the list's `data.` is taken off
            raise invalid(f"You cannot expand more than {MAX_EXPAND_DEPTH} levels of a property. "
                          f"Property: {path}", "expand")
        if is_list:
            if parts[0] != "data" or len(parts) < 2:
                raise invalid(f"This property cannot be expanded ({path}). You may want to try "
                              f"expanding 'data.{path}' instead.", "expand")
            parts = parts[1:]
        node = tree
        for part in parts:
            node = node.setdefault(part, {})
    return tree


def _check(tree: ExpandTree, allowed: set[str], where: str) -> None:
    unknown = set(tree) - allowed
    if unknown:
        name = sorted(unknown)[0]
        raise invalid(f"This property cannot be expanded ({name}) on {where}.", "expand")


class Renderer:
    """Turns stored objects into API JSON (dicts ready to encode)."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.overrides: dict[str, dict] = {}  # id → fields replaced verbatim (malformed objects)
        self._json: dict[str, bytes] = {}
        self._json_generation = -1
        self._event_json: dict[str, bytes] = {}
        self._prices: dict[str, tuple[dict, dict]] = {}
        self._price_generation = -1

    def json_of(self, object_type: str, obj: dict) -> bytes:
        """The default (unexpanded) rendering as JSON bytes, cached until the store changes."""
        if self._json_generation != self.store.generation:
            self._json.clear()
            self._json_generation = self.store.generation
        cached = self._json.get(obj["id"])
        if cached is None:
            cached = self._json[obj["id"]] = orjson.dumps(self.render(object_type, obj))
        return cached

    def drop_caches(self) -> None:
        self._json.clear()
        self._event_json.clear()
        self._prices.clear()

    def event_json(self, event: dict) -> bytes:
        """Events never change: their JSON is cached for good."""
        cached = self._event_json.get(event["id"])
        if cached is None:
            cached = self._event_json[event["id"]] = orjson.dumps(event)
        return cached

    def render(self, object_type: str, obj: dict, tree: ExpandTree | None = None) -> dict:
        tree = tree or {}
        method = getattr(self, f"_{object_type}", None)
        if method is None:
            _check(tree, set(), object_type)
            out = dict(obj)
        else:
            out = method(obj, tree)
        patch = self.overrides.get(obj["id"])
        if patch:
            out.update(patch)
        return out

    def ref(self, object_type: str, obj_id: str | None, tree: ExpandTree | None) -> object:
        """An id, or the expanded object when `tree` is not None."""
        if obj_id is None or tree is None:
            return obj_id
        if object_type == "customer" and obj_id in self.store.deleted_customers:
            return {"id": obj_id, "object": "customer", "deleted": True}
        obj = self.store.get(object_type, obj_id)
        return obj_id if obj is None else self.render(object_type, obj, tree)

    def _customer(self, obj: dict, tree: ExpandTree) -> dict:
        _check(tree, {"discount"}, "customer")
        out = dict(obj)
        # `discount` is always embedded (a discount object, not expandable); its own
        # expandable fields (`discount.source.coupon`) follow the tree
        out["discount"] = self.ref("discount", obj.get("discount"), tree.get("discount", {}))
        return out

    def _price(self, obj: dict, tree: ExpandTree) -> dict:
        _check(tree, {"tiers", "product", "currency_options"}, "price")
        out = dict(obj)
        tiers = out.pop("tiers", None)
        options = out.pop("currency_options", None)
        if "tiers" in tree:
            out["tiers"] = tiers
        if "currency_options" in tree:
            out["currency_options"] = _currency_options(options, tree["currency_options"])
        out["product"] = self.ref("product", obj["product"], tree.get("product"))
        return out

    def _coupon(self, obj: dict, tree: ExpandTree) -> dict:
        _check(tree, set(INCLUDABLE["coupon"]), "coupon")
        out = {k: v for k, v in obj.items() if k not in INCLUDABLE["coupon"]}
        for name in INCLUDABLE["coupon"]:
            if name in tree:
                out[name] = obj.get(name)
        return out

    def _product(self, obj: dict, tree: ExpandTree) -> dict:
        _check(tree, {"default_price"}, "product")
        out = dict(obj)
        out["default_price"] = self.ref("price", obj.get("default_price"), tree.get("default_price"))
        return out

    def _discount(self, obj: dict, tree: ExpandTree) -> dict:
        _check(tree, {"customer", "source"}, "discount")
        out = dict(obj)
        source_tree = tree.get("source", {})
        _check(source_tree, {"coupon"}, "discount.source")
        out["source"] = {"coupon": self.ref("coupon", obj["source"]["coupon"], source_tree.get("coupon")),
                         "type": "coupon"}
        out["customer"] = self.ref("customer", obj.get("customer"), tree.get("customer"))
        return out

    def _discounts(self, ids: list[str], tree: ExpandTree | None) -> list:
        return [self.ref("discount", i, tree) for i in ids]

    def _subscription_item(self, obj: dict, tree: ExpandTree) -> dict:
        _check(tree, {"price", "discounts"}, "subscription_item")
        out = dict(obj)
        price = self.store.get("price", obj["price"])
        if price is None:
            out["price"], out["plan"] = obj["price"], None
        elif tree.get("price") is None:
            out["price"], out["plan"] = self._embedded_price(price)
        else:
            out["price"] = self.render("price", price, tree.get("price"))
            out["plan"] = plan_mirror(out["price"])
        out["discounts"] = self._discounts(obj.get("discounts", []), tree.get("discounts"))
        return out

    def _embedded_price(self, price: dict) -> tuple[dict, dict]:
        """The unexpanded price and its plan mirror, shared by every item until a change."""
        if self._price_generation != self.store.generation:
            self._prices.clear()
            self._price_generation = self.store.generation
        pair = self._prices.get(price["id"])
        if pair is None:
            rendered = self.render("price", price)
            pair = self._prices[price["id"]] = (rendered, plan_mirror(rendered))
        return pair

    def items_list(self, sub_id: str, item_ids: list[str], tree: ExpandTree | None) -> dict:
        items = self.store["subscription_item"].objects
        data = [self.render("subscription_item", items[i], tree) for i in item_ids[:NESTED_PAGE] if i in items]
        return {"object": "list", "data": data, "has_more": len(item_ids) > NESTED_PAGE,
                "url": f"/v1/subscription_items?subscription={sub_id}"}

    def _subscription(self, obj: dict, tree: ExpandTree) -> dict:
        _check(tree, {"customer", "discounts", "items", "latest_invoice", "default_payment_method"},
               "subscription")
        out = dict(obj)
        items_tree = tree.get("items", {})
        _check(items_tree, {"data"}, "subscription.items")
        out["items"] = self.items_list(obj["id"], obj["items"], items_tree.get("data"))
        out["customer"] = self.ref("customer", obj["customer"], tree.get("customer"))
        out["discounts"] = self._discounts(obj.get("discounts", []), tree.get("discounts"))
        return out

    def legacy(self, object_type: str, current: dict) -> dict:
        """A rendered object in the legacy shape (api_version 2024-06-20)."""
        if object_type != "subscription" or not isinstance(current.get("items"), dict):
            return current
        out = dict(current)
        items = [dict(i) for i in out["items"]["data"]]
        starts = [i.pop("current_period_start", None) for i in items]
        ends = [i.pop("current_period_end", None) for i in items]
        out["items"] = dict(out["items"], data=items)
        out["current_period_start"] = starts[0] if starts else None
        out["current_period_end"] = ends[0] if ends else None
        out["plan"] = items[0]["plan"] if len(items) == 1 else None
        out["quantity"] = items[0]["quantity"] if len(items) == 1 else None
        out["discount"] = self._legacy_discount(current["discounts"][0]) if current.get("discounts") else None
        return out

    def _legacy_discount(self, ref: object) -> dict | None:
        disc_id = ref["id"] if isinstance(ref, dict) else ref
        disc = self.store.get("discount", disc_id)
        if disc is None:
            return None
        out = {k: v for k, v in disc.items() if k != "source"}
        coupon = self.store.get("coupon", disc["source"]["coupon"])
        out["coupon"] = self.render("coupon", coupon) if coupon else None  # includables left out
        return out


#: Includable fields per object type (absent unless expanded), as Stripe's reference marks them.
INCLUDABLE = {"price": ("tiers", "currency_options"), "coupon": ("applies_to", "currency_options")}


def _currency_options(options: dict | None, tree: ExpandTree) -> dict | None:
    """A price's `currency_options`; each option's `tiers` only with `currency_options.<cur>.tiers`."""
    if options is None:
        return None
    for currency, sub in tree.items():
        _check(sub, {"tiers"}, f"price.currency_options.{currency}")
    out = {}
    for currency, option in options.items():
        rendered = {k: v for k, v in option.items() if k != "tiers"}
        if "tiers" in tree.get(currency, {}):
            rendered["tiers"] = option.get("tiers")
        out[currency] = rendered
    return out


def plan_mirror(price: dict) -> dict:
    """The legacy `plan` object Stripe still mirrors on items from the price."""
    recurring = price.get("recurring") or {}
    return {
        "id": price["id"], "object": "plan", "active": price["active"],
        "amount": price.get("unit_amount"), "amount_decimal": price.get("unit_amount_decimal"),
        "billing_scheme": price["billing_scheme"], "created": price["created"],
        "currency": price["currency"], "interval": recurring.get("interval"),
        "interval_count": recurring.get("interval_count"), "livemode": False,
        "metadata": price.get("metadata", {}), "meter": None, "nickname": price.get("nickname"),
        "product": price["product"] if isinstance(price["product"], str) else price["product"]["id"],
        "tiers_mode": price.get("tiers_mode"), "transform_usage": price.get("transform_quantity"),
        "trial_period_days": None, "usage_type": recurring.get("usage_type", "licensed"),
    }
