"""Stripe objects for the MRR tests, in the shapes of Stripe's OpenAPI fixtures.

Field names and nesting follow `../shared/stripe/openapi-fixtures.json` (subscription,
subscription_item, price, plan, coupon, discount, tax_rate); only values are chosen here.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=timezone.utc)
T = int(NOW.timestamp())
DAY = 86400
PERIOD_START = T - 14 * DAY
PERIOD_END = T + 16 * DAY


def price(unit: str | None = "2000", *, interval: str = "month", count: int = 1, usage: str = "licensed",
          scheme: str = "per_unit", tiers: list[dict] | None = None, mode: str | None = None,
          transform: tuple[int, str] | None = None, currency: str = "usd", tax_behavior: str = "unspecified",
          pid: str = "price_pro", product: str = "prod_pro", lookup_key: str | None = None) -> dict[str, Any]:
    return {
        "active": True, "billing_scheme": scheme, "created": T - 400 * DAY, "currency": currency,
        "custom_unit_amount": None, "id": pid, "livemode": False, "lookup_key": lookup_key, "metadata": {},
        "nickname": None, "object": "price", "product": product,
        "recurring": {"interval": interval, "interval_count": count, "meter": None, "usage_type": usage,
                      "trial_period_days": None},
        "tax_behavior": tax_behavior, "tiers_mode": mode,
        **({"tiers": tiers} if tiers is not None else {}),
        "transform_quantity": {"divide_by": transform[0], "round": transform[1]} if transform else None,
        "type": "recurring",
        "unit_amount": int(unit) if unit is not None and "." not in unit else None,
        "unit_amount_decimal": unit,
    }


def tier(up_to: int | None, unit: int, flat: int = 0) -> dict[str, Any]:
    return {"flat_amount": flat, "flat_amount_decimal": str(flat), "unit_amount": unit,
            "unit_amount_decimal": str(unit), "up_to": up_to}


def item(p: dict[str, Any], quantity: int | None = 1, *, iid: str = "si_1", end: int = PERIOD_END,
         start: int = PERIOD_START, discounts: list | None = None, tax_rates: list | None = None) -> dict[str, Any]:
    return {"created": T - 100 * DAY, "discounts": discounts or [], "id": iid, "metadata": {},
            "object": "subscription_item", "price": p, "quantity": quantity, "subscription": "sub_1",
            "tax_rates": tax_rates or [], "current_period_end": end, "current_period_start": start,
            "billing_thresholds": None}


def coupon(percent: float | None = None, amount: int | None = None, *, duration: str = "forever",
           currency: str | None = "usd", cid: str = "CPN", products: list[str] | None = None,
           currency_options: dict | None = None) -> dict[str, Any]:
    return {"amount_off": amount, "created": T - 200 * DAY, "currency": currency if amount else None,
            "duration": duration, "duration_in_months": 3 if duration == "repeating" else None, "id": cid,
            "livemode": False, "max_redemptions": None, "metadata": {}, "name": cid, "object": "coupon",
            "percent_off": percent, "redeem_by": None, "times_redeemed": 1, "valid": True,
            **({"applies_to": {"products": products}} if products else {}),
            **({"currency_options": currency_options} if currency_options else {})}


def discount(c: dict[str, Any], *, start: int = PERIOD_START, end: int | None = None, did: str = "di_1",
             legacy: bool = False) -> dict[str, Any]:
    """A discount; `legacy` puts the coupon at `discount.coupon` (before 2025-09-30)."""
    base = {"checkout_session": None, "customer": "cus_1", "end": end, "id": did, "invoice": None,
            "invoice_item": None, "object": "discount", "promotion_code": None, "start": start,
            "subscription": "sub_1", "subscription_item": None}
    if legacy:
        return {**base, "coupon": c}
    return {**base, "source": {"coupon": c, "type": "coupon"}}


def tax_rate(percentage: float, *, inclusive: bool, tid: str = "txr_1") -> dict[str, Any]:
    return {"active": True, "country": "DE", "created": T, "description": "VAT Germany",
            "display_name": "VAT", "effective_percentage": None, "id": tid, "inclusive": inclusive,
            "jurisdiction": "DE", "livemode": False, "metadata": {}, "object": "tax_rate",
            "percentage": percentage, "state": None, "tax_type": "vat"}


def subscription(*items: dict[str, Any], status: str = "active", currency: str = "usd",
                 discounts: list | None = None, cancel_at_period_end: bool = False, cancel_at: int | None = None,
                 default_tax_rates: list | None = None, sid: str = "sub_1", customer: str = "cus_1",
                 created: int = T - 100 * DAY, trial_end: int | None = None) -> dict[str, Any]:
    return {
        "application": None, "billing_cycle_anchor": PERIOD_START, "cancel_at": cancel_at,
        "cancel_at_period_end": cancel_at_period_end, "canceled_at": None, "collection_method": "charge_automatically",
        "created": created, "currency": currency, "customer": customer, "default_tax_rates": default_tax_rates or [],
        "discounts": discounts or [], "ended_at": None, "id": sid,
        "items": {"data": list(items), "has_more": False, "object": "list",
                  "url": f"/v1/subscription_items?subscription={sid}"},
        "livemode": False, "metadata": {}, "object": "subscription", "pause_collection": None,
        "start_date": created, "status": status, "trial_end": trial_end, "trial_start": None,
    }


def plan(amount: int = 2000, *, interval: str = "month", count: int = 1, pid: str = "gold",
         currency: str = "usd") -> dict[str, Any]:
    return {"active": True, "amount": amount, "amount_decimal": str(amount), "billing_scheme": "per_unit",
            "created": T - 400 * DAY, "currency": currency, "id": pid, "interval": interval,
            "interval_count": count, "livemode": False, "metadata": {}, "nickname": None, "object": "plan",
            "product": "prod_gold", "tiers_mode": None, "transform_usage": None, "trial_period_days": None,
            "usage_type": "licensed"}


def legacy_subscription(p: dict[str, Any], quantity: int = 1, *, status: str = "active",
                        discount_: dict | None = None, with_items: bool = True,
                        period_end: int = PERIOD_END, cancel_at_period_end: bool = False) -> dict[str, Any]:
    """The 2017-era shape (localstripe): `plan`, `quantity`, singular `discount`, periods on the subscription."""
    items = {"object": "list", "data": [{"id": "si_legacy", "object": "subscription_item", "plan": p,
                                         "quantity": quantity, "created": T - 100 * DAY}]} if with_items else None
    sub = {"id": "sub_legacy", "object": "subscription", "customer": "cus_1", "status": status,
           "currency": p["currency"], "plan": p, "quantity": quantity, "discount": discount_,
           "current_period_start": PERIOD_START, "current_period_end": period_end,
           "cancel_at_period_end": cancel_at_period_end, "cancel_at": None, "created": T - 100 * DAY,
           "trial_end": None, "trial_start": None, "ended_at": None, "canceled_at": None}
    if items is not None:
        sub["items"] = items
    return sub
