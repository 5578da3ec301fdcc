"""Builders for the sandbox's stored objects (current API shape, references as ids).

Pure functions of their arguments: the `Sandbox` mutation methods and the bulk generator both
use them, so an object looks the same however it was made.
"""

from __future__ import annotations

from datetime import datetime

from stripe_sandbox.clock import add_months, from_ts, period_containing, to_ts


def customer(obj_id: str, created: int, *, email: str | None = None, name: str | None = None,
             metadata: dict | None = None, description: str | None = None,
             phone: str | None = None, currency: str | None = None) -> dict:
    return {
        "id": obj_id, "object": "customer", "address": None, "balance": 0, "created": created,
        "currency": currency, "default_source": None, "delinquent": False,
        "description": description, "discount": None, "email": email,
        "invoice_prefix": obj_id[-8:].upper(), "invoice_settings": {
            "custom_fields": None, "default_payment_method": None, "footer": None,
            "rendering_options": None},
        "livemode": False, "metadata": dict(metadata or {}), "name": name,
        "next_invoice_sequence": 1, "phone": phone, "preferred_locales": [], "shipping": None,
        "tax_exempt": "none", "test_clock": None,
    }


def product(obj_id: str, created: int, name: str, *, metadata: dict | None = None) -> dict:
    return {
        "id": obj_id, "object": "product", "active": True, "created": created,
        "default_price": None, "description": None, "images": [], "livemode": False,
        "marketing_features": [], "metadata": dict(metadata or {}), "name": name,
        "package_dimensions": None, "shippable": None, "statement_descriptor": None,
        "tax_code": None, "type": "service", "unit_label": None, "updated": created, "url": None,
    }


def price(obj_id: str, created: int, product_id: str, currency: str, *, interval: str = "month",
          interval_count: int = 1, unit_amount: int | None = None, tiers: list[dict] | None = None,
          tiers_mode: str | None = None, transform_quantity: dict | None = None,
          lookup_key: str | None = None, nickname: str | None = None,
          usage_type: str = "licensed", metadata: dict | None = None,
          unit_amount_decimal: str | None = None, currency_options: dict | None = None,
          tax_behavior: str = "unspecified") -> dict:
    """A recurring price: per-unit (`unit_amount`, or `unit_amount_decimal` for sub-cent
    amounts) or tiered (`tiers` + `tiers_mode`). `currency_options` ({"eur": {"unit_amount":
    900} | {"unit_amount_decimal": "9.5"} | {"tiers": [...]}}) prices it in other currencies;
    like Stripe, the stored options include the default currency itself."""
    tiered = tiers is not None
    if unit_amount_decimal is not None and unit_amount is None and not tiered:
        decimal = str(unit_amount_decimal)
        unit_amount = int(decimal) if decimal.isdigit() else None
    else:
        decimal = None if tiered or unit_amount is None else str(unit_amount)
    default = {"custom_unit_amount": None, "tax_behavior": tax_behavior,
               "tiers": [_tier(t) for t in tiers] if tiered else None,
               "unit_amount": None if tiered else unit_amount, "unit_amount_decimal": decimal}
    options = {currency: default}
    for code, option in (currency_options or {}).items():
        options[code.lower()] = _currency_option(option, tiered, tax_behavior)
    return {
        "id": obj_id, "object": "price", "active": True,
        "billing_scheme": "tiered" if tiered else "per_unit", "created": created,
        "currency": currency, "currency_options": options, "custom_unit_amount": None, "livemode": False,
        "lookup_key": lookup_key, "metadata": dict(metadata or {}), "nickname": nickname,
        "product": product_id,
        "recurring": {"interval": interval, "interval_count": interval_count, "meter": None,
                      "trial_period_days": None, "usage_type": usage_type},
        "tax_behavior": tax_behavior, "tiers": [_tier(t) for t in tiers] if tiered else None,
        "tiers_mode": tiers_mode if tiered else None, "transform_quantity": transform_quantity,
        "type": "recurring", "unit_amount": None if tiered else unit_amount,
        "unit_amount_decimal": decimal,
    }


def _currency_option(option: dict, tiered: bool, tax_behavior: str) -> dict:
    """One entry of a price's `currency_options`, shaped like Stripe's (amounts as given)."""
    if tiered != ("tiers" in option):
        raise ValueError("a tiered price's currency options need `tiers`; a per-unit price's need an amount")
    unit, decimal = option.get("unit_amount"), option.get("unit_amount_decimal")
    if not tiered and decimal is None and unit is not None:
        decimal = str(unit)
    elif not tiered and unit is None and decimal is not None and str(decimal).isdigit():
        unit = int(decimal)
    return {"custom_unit_amount": None, "tax_behavior": option.get("tax_behavior", tax_behavior),
            "tiers": [_tier(t) for t in option["tiers"]] if tiered else None,
            "unit_amount": None if tiered else unit,
            "unit_amount_decimal": None if tiered else (None if decimal is None else str(decimal))}


def _tier(tier: dict) -> dict:
    unit, flat = tier.get("unit_amount"), tier.get("flat_amount")
    unit_decimal = tier.get("unit_amount_decimal", None if unit is None else str(unit))
    if unit is None and unit_decimal is not None and str(unit_decimal).isdigit():
        unit = int(unit_decimal)
    return {"flat_amount": flat, "flat_amount_decimal": None if flat is None else str(flat),
            "unit_amount": unit, "unit_amount_decimal": None if unit_decimal is None else str(unit_decimal),
            "up_to": tier.get("up_to")}


def coupon(obj_id: str, created: int, *, percent_off: float | None = None,
           amount_off: int | None = None, currency: str | None = None,
           duration: str = "forever", duration_in_months: int | None = None,
           name: str | None = None, applies_to: dict | None = None,
           currency_options: dict | None = None) -> dict:
    """A coupon. `applies_to={"products": [...]}` limits it to those products;
    `currency_options={"eur": {"amount_off": 900}}` gives an `amount_off` coupon its amount in
    other currencies (Stripe accepts them only with `amount_off`)."""
    if (percent_off is None) == (amount_off is None):
        raise ValueError("a coupon needs exactly one of percent_off or amount_off")
    if amount_off is not None and not currency:
        raise ValueError("an amount_off coupon needs a currency")
    if currency_options and amount_off is None:
        raise ValueError("currency_options are only supported with amount_off")
    options = None
    if amount_off is not None:
        options = {code.lower(): {"amount_off": int(o["amount_off"])} for code, o in (currency_options or {}).items()}
        options = {currency.lower(): {"amount_off": amount_off}, **options}
    products = list((applies_to or {}).get("products") or [])
    return {
        "id": obj_id, "object": "coupon", "amount_off": amount_off,
        "applies_to": {"products": products} if applies_to is not None else None, "created": created,
        "currency": currency if amount_off is not None else None, "currency_options": options,
        "duration": duration,
        "duration_in_months": duration_in_months if duration == "repeating" else None,
        "livemode": False, "max_redemptions": None, "metadata": {}, "name": name,
        "percent_off": percent_off, "redeem_by": None, "times_redeemed": 0, "valid": True,
    }


def discount(obj_id: str, coupon_obj: dict, customer_id: str, subscription_id: str | None,
             start: datetime, subscription_item: str | None = None) -> dict:
    end = None
    if coupon_obj["duration"] == "repeating" and coupon_obj.get("duration_in_months"):
        end = to_ts(add_months(start, int(coupon_obj["duration_in_months"])))
    return {
        "id": obj_id, "object": "discount", "checkout_session": None, "customer": customer_id,
        "customer_account": None, "end": end, "invoice": None, "invoice_item": None,
        "promotion_code": None, "source": {"coupon": coupon_obj["id"], "type": "coupon"},
        "start": to_ts(start), "subscription": subscription_id, "subscription_item": subscription_item,
    }


def subscription_item(obj_id: str, created: int, sub_id: str, price_obj: dict, quantity: int,
                      anchor: datetime, now: datetime, trial_end: datetime | None) -> dict:
    start, end = item_period(price_obj, anchor, now, trial_end, trial_start=from_ts(created))
    return {
        "id": obj_id, "object": "subscription_item", "billing_thresholds": None,
        "created": created, "current_period_end": to_ts(end),
        "current_period_start": to_ts(start), "discounts": [], "metadata": {},
        "price": price_obj["id"], "quantity": quantity, "subscription": sub_id, "tax_rates": [],
    }


def item_period(price_obj: dict, anchor: datetime, now: datetime, trial_end: datetime | None,
                trial_start: datetime | None = None) -> tuple[datetime, datetime]:
    """The item's current period: the trial itself while trialing, else the anchored cycle."""
    if trial_end is not None and now < trial_end:
        return min(trial_start or now, now), trial_end
    recurring = price_obj["recurring"]
    return period_containing(anchor, recurring["interval"], int(recurring["interval_count"]),
                             max(now, anchor))


def subscription(obj_id: str, created: int, customer_id: str, currency: str, *, status: str,
                 anchor: datetime, trial_start: int | None, trial_end: int | None,
                 metadata: dict | None = None) -> dict:
    return {
        "id": obj_id, "object": "subscription", "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": to_ts(anchor), "billing_cycle_anchor_config": None,
        "billing_mode": {"type": "classic"}, "billing_schedules": [], "billing_thresholds": None,
        "cancel_at": None,
        "cancel_at_period_end": False, "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically", "created": created, "currency": currency,
        "customer": customer_id, "customer_account": None, "days_until_due": None,
        "default_payment_method": None, "default_source": None, "default_tax_rates": [],
        "description": None, "discounts": [], "ended_at": None, "invoice_settings": {
            "account_tax_ids": None, "issuer": {"type": "self"}},
        "items": [], "latest_invoice": None, "livemode": False,
        "managed_payments": {"enabled": False}, "metadata": dict(metadata or {}),
        "next_pending_invoice_item_invoice": None, "on_behalf_of": None,
        "pause_collection": None, "payment_settings": {
            "payment_method_options": None, "payment_method_types": None,
            "save_default_payment_method": "off"},
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None, "pending_update": None, "schedule": None,
        "start_date": created, "status": status, "test_clock": None, "transfer_data": None,
        "trial_end": trial_end,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": trial_start,
    }

