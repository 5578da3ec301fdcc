"""Reading Stripe objects in both API shapes into store rows (pure: no I/O, no logging).

Current shape (API ≥ 2025-03-31): periods on subscription items, `discounts` list, item `price`.
Legacy shape: periods on the subscription, singular `discount`, `plan`. `check_*` raise
`Malformed` with a plain reason when an object cannot be read safely — the caller quarantines
it; `*_row` build the column values the store keeps beside Stripe's own JSON.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from worker.rules.model import STRIPE_STATUSES

from worker.sync import limits
from worker.sync.limits import Malformed

Json = dict[str, Any]


__all__ = ["Malformed"]  # defined with the limits it enforces (worker.sync.limits)


def ts(value: Any) -> datetime | None:
    """A Stripe Unix timestamp as an aware UTC datetime (None stays None)."""
    if value is None:
        return None
    return datetime.fromtimestamp(int(value), tz=UTC)


def ref_id(value: Any) -> str | None:
    """The id of an expandable field: a string id, or an expanded object's `id`."""
    if isinstance(value, dict):
        return value.get("id")
    return value


def is_legacy_subscription(raw: Json) -> bool:
    """Legacy shape keeps the billing period on the subscription itself (and `discount`)."""
    return "current_period_end" in raw or ("discount" in raw and "discounts" not in raw)


def _need(cond: bool, reason: str) -> None:
    if not cond:
        raise Malformed(reason)


# The checks below run for every object of every backfill page, so the common path stays
# cheap: a reason is only formatted once a check has failed (`if not …: raise`), and an
# exact `int` is accepted before the slower isinstance/bool test.


def _is_ts(value: Any) -> bool:
    return value is None or type(value) is int or (isinstance(value, int) and not isinstance(value, bool))


def _bad_time(obj: Json, names: tuple[str, ...]) -> str | None:
    """The first of `names` holding something other than a Unix timestamp (or None)."""
    get = obj.get
    for name in names:
        value = get(name)
        if value is not None and type(value) is not int and not _is_ts(value):
            return name
    return None


def _check_times(obj: Json, names: tuple[str, ...], what: str) -> None:
    name = _bad_time(obj, names)
    if name is not None:
        raise Malformed(f"{what} field `{name}` is not a Unix timestamp: {obj.get(name)!r}")


def check_customer(raw: Any) -> None:
    _need(isinstance(raw, dict), "the customer is not a JSON object")
    limits.check_text(raw, "the customer")
    limits.check_id(raw.get("id"), "the customer")
    if raw.get("deleted"):
        return
    limits.check_metadata(raw.get("metadata"), "the customer")
    limits.check_optional_text(raw, "name", limits.MAX_NAME, "the customer")
    limits.check_optional_text(raw, "email", limits.MAX_EMAIL, "the customer")
    currency = raw.get("currency")
    _need(currency is None or isinstance(currency, str) and len(currency) == 3,
          "the customer's `currency` is not a 3-letter code")
    _check_times(raw, ("created",), "the customer's")


def check_product(raw: Any) -> None:
    _need(isinstance(raw, dict), "the product is not a JSON object")
    limits.check_text(raw, "the product")
    limits.check_id(raw.get("id"), "the product")
    limits.check_optional_text(raw, "name", limits.MAX_NAME, "the product")
    limits.check_metadata(raw.get("metadata"), "the product")


def check_price(raw: Any, *, text: bool = True) -> None:
    if not isinstance(raw, dict):
        raise Malformed("the price is not a JSON object")
    if text:  # an item's price was checked with its subscription
        limits.check_text(raw, "the price")
    limits.check_id(raw.get("id"), "the price")
    if not isinstance(raw.get("currency"), str) or len(raw["currency"]) != 3:
        raise Malformed(f"price {raw.get('id')} has no currency")
    scheme = raw.get("billing_scheme", "per_unit")
    if scheme != "per_unit" and scheme != "tiered":
        raise Malformed(f"price {raw['id']} has an unknown billing_scheme {scheme!r}")
    if scheme == "tiered" and "tiers" in raw and not (isinstance(raw["tiers"], list) and raw["tiers"]):
        raise Malformed(f"tiered price {raw['id']} has no tiers")
    if "tiers" in raw and raw["tiers"] is not None and not isinstance(raw["tiers"], list):
        raise Malformed(f"price {raw['id']}'s `tiers` is not a list")
    limits.check_price_fields(raw, f"price {raw['id']}")
    product = ref_id(raw.get("product"))
    if product is not None and (not isinstance(product, str) or len(product) > limits.MAX_ID):
        raise Malformed(f"price {raw['id']}'s `product` is not a Stripe id")


_SUBSCRIPTION_TIMES = ("created", "cancel_at", "canceled_at", "ended_at", "trial_start", "trial_end",
                       "current_period_end", "current_period_start")


def check_subscription(raw: Any) -> None:
    if not isinstance(raw, dict):
        raise Malformed("the subscription is not a JSON object")
    limits.check_text(raw, "the subscription")
    sid = raw.get("id")
    limits.check_id(sid, "the subscription")
    customer = ref_id(raw.get("customer"))
    if not isinstance(customer, str) or not customer or len(customer) > limits.MAX_ID:
        raise Malformed(f"subscription {sid} has no customer")
    limits.check_metadata(raw.get("metadata"), f"subscription {sid}")
    if raw.get("status") not in STRIPE_STATUSES:
        raise Malformed(f"subscription {sid} has an unknown status {raw.get('status')!r}")
    currency = subscription_currency(raw)
    if not (isinstance(currency, str) and len(currency) == 3):
        raise Malformed(f"subscription {sid} has no valid currency")
    if not isinstance(raw.get("cancel_at_period_end", False), bool):
        raise Malformed(f"subscription {sid}'s `cancel_at_period_end` is not a boolean")
    if _bad_time(raw, _SUBSCRIPTION_TIMES):
        _check_times(raw, _SUBSCRIPTION_TIMES, f"subscription {sid}'s")
    items = raw.get("items")
    if not (isinstance(items, dict) and isinstance(items.get("data"), list)):
        raise Malformed(f"subscription {sid} has no `items` list")
    for item in items["data"]:
        check_item(item, sid)
    if not isinstance(raw.get("discounts", []), list):
        raise Malformed(f"subscription {sid}'s `discounts` is not a list")


_ITEM_TIMES = ("current_period_start", "current_period_end")


def check_item(item: Any, sid: str) -> None:
    if not (isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"]):
        raise Malformed(f"subscription {sid} has an item without an id")
    limits.check_id(item["id"], f"an item of subscription {sid}")
    price = item.get("price") or item.get("plan")
    if not (isinstance(price, dict) and isinstance(price.get("id"), str)):
        raise Malformed(f"item {item['id']} of subscription {sid} has no price")
    check_price(price, text=False)
    quantity = item.get("quantity")
    if not (quantity is None or type(quantity) is int and quantity >= 0
            or isinstance(quantity, int) and not isinstance(quantity, bool) and quantity >= 0):
        raise Malformed(f"item {item['id']} of subscription {sid} has an invalid quantity {quantity!r}")
    if _bad_time(item, _ITEM_TIMES):
        _check_times(item, _ITEM_TIMES, f"item {item['id']}'s")


def subscription_currency(raw: Json) -> Any:
    """The subscription's currency; 2017-era subscriptions only carry it on their plan."""
    if raw.get("currency"):
        return raw["currency"]
    for holder in [raw, *((raw.get("items") or {}).get("data") or [])]:
        plan = holder.get("price") or holder.get("plan") if isinstance(holder, dict) else None
        if isinstance(plan, dict) and plan.get("currency"):
            return plan["currency"]
    return None


def customer_row(raw: Json) -> Json:
    """Table columns of StripeCustomer (without contact_id, synced_at, changed_at)."""
    return {
        "id": raw["id"],
        "name": raw.get("name"),
        "email": raw.get("email"),
        "metadata": dict(raw.get("metadata") or {}),
        "currency": raw.get("currency"),
        "livemode": bool(raw.get("livemode", False)),
        "deleted": bool(raw.get("deleted", False)),
        "created": ts(raw.get("created")),
        "raw": raw,
    }


def subscription_row(raw: Json) -> Json:
    """Columns of StripeSubscription (without synced_at, changed_at)."""
    legacy = is_legacy_subscription(raw)
    items = raw["items"]["data"]
    if legacy:
        period_end = ts(raw.get("current_period_end"))
    else:
        ends = [item["current_period_end"] for item in items if item.get("current_period_end") is not None]
        period_end = ts(min(ends)) if ends else None
    return {
        "id": raw["id"],
        "customer_id": ref_id(raw["customer"]),
        "status": raw["status"],
        "currency": subscription_currency(raw),
        "api_shape": "legacy" if legacy else "current",
        "cancel_at": ts(raw.get("cancel_at")),
        "cancel_at_period_end": bool(raw.get("cancel_at_period_end", False)),
        "canceled_at": ts(raw.get("canceled_at")),
        "ended_at": ts(raw.get("ended_at")),
        "trial_start": ts(raw.get("trial_start")),
        "trial_end": ts(raw.get("trial_end")),
        "current_period_end": period_end,
        "created": ts(raw.get("created")),
        "deleted": False,
        "raw": raw,
    }


def item_rows(raw: Json) -> list[Json]:
    """SubscriptionItem rows (columns only: the item's JSON lives in the subscription's `raw`);
    legacy items take the subscription's period."""
    legacy = is_legacy_subscription(raw)
    rows = []
    for item in raw["items"]["data"]:
        price = item.get("price") or item.get("plan") or {}
        source = raw if legacy else item
        rows.append({
            "id": item["id"],
            "subscription_id": raw["id"],
            "price_id": price.get("id"),
            "product_id": ref_id(price.get("product")),
            "quantity": item.get("quantity"),
            "current_period_start": ts(source.get("current_period_start")),
            "current_period_end": ts(source.get("current_period_end")),
        })
    return rows


def price_row(raw: Json) -> Json:
    return {
        "id": raw["id"],
        "product_id": ref_id(raw.get("product")),
        "lookup_key": raw.get("lookup_key"),
        "currency": raw.get("currency"),
        "raw": raw,
    }


def product_row(raw: Json) -> Json:
    return {"id": raw["id"], "name": raw.get("name"), "raw": raw}


def discount_coupon(discount: Json) -> Any:
    """Where a discount keeps its coupon: `coupon` (older) or `source.coupon` (≥ 2025-09-30)."""
    if "coupon" in discount:
        return discount["coupon"]
    return (discount.get("source") or {}).get("coupon")


def with_coupon(discount: Json, coupon: Json) -> Json:
    """The discount with its coupon replaced by the full object, in the shape Stripe gave."""
    if "coupon" in discount:
        return {**discount, "coupon": coupon}
    return {**discount, "source": {**(discount.get("source") or {}), "coupon": coupon}}
