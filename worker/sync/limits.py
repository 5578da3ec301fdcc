"""Stripe's own limits, checked at the boundary before anything is stored (pure).

What Stripe allows is stored whole — ids up to 255 characters, metadata up to 50 keys of up
to 40 characters with values up to 500 (a contact id is such a value: never truncated, the
columns are wide enough). What Stripe would never send, and what the database cannot hold,
is `Malformed`, so the object is quarantined and the sync goes on: a NUL byte anywhere (a
PostgreSQL text or JSONB value cannot hold one), text that is not valid Unicode, nesting
deeper than JSON encoders go, an over-long id, metadata or name, an email that is not text,
amounts that are not numbers (`unit_amount_decimal: "abc"`).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import orjson


MAX_ID = 255
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY = 40
MAX_METADATA_VALUE = 500
MAX_NAME = 500
MAX_EMAIL = 512
MAX_LOOKUP_KEY = 255
DECIMAL = re.compile(r"-?\d{1,20}(?:\.\d{1,12})?")
INTERVALS = ("day", "week", "month", "year")


class Malformed(Exception):
    """A Stripe object that cannot be stored or read safely; the reason is a plain sentence."""


def check_text(raw: Any, what: str) -> None:
    """Malformed when any string of `raw` holds a NUL byte or is not valid Unicode, or when it
    nests deeper than a JSON encoder goes (one C-speed encode; the slow walk only on a hit)."""
    try:
        encoded = orjson.dumps(raw)
    except (orjson.JSONEncodeError, TypeError, RecursionError):
        raise Malformed(f"{what} holds text that is not valid Unicode, or nests too deep to store") from None
    if b"\\u0000" in encoded and _has_nul(raw):
        raise Malformed(f"{what} holds a NUL byte (\\u0000), which no database text can store")


def _has_nul(raw: Any) -> bool:
    stack = [raw]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return True
        elif isinstance(value, dict):
            stack += value.keys()
            stack += value.values()
        elif isinstance(value, list):
            stack += value
    return False


def check_id(value: Any, what: str) -> None:
    if not (isinstance(value, str) and value):
        raise Malformed(f"{what} has no id")
    if len(value) > MAX_ID:
        raise Malformed(f"{what} has an id of {len(value)} characters; Stripe ids have at most {MAX_ID}")


def check_metadata(metadata: Any, what: str) -> None:
    """Stripe's metadata limits: 50 keys, keys up to 40 characters, string values up to 500."""
    if metadata is None:
        return
    if not isinstance(metadata, dict):
        raise Malformed(f"{what}'s `metadata` is not an object")
    if len(metadata) > MAX_METADATA_KEYS:
        raise Malformed(f"{what}'s metadata has {len(metadata)} keys; Stripe allows {MAX_METADATA_KEYS}")
    for key, value in metadata.items():
        if not isinstance(key, str) or len(key) > MAX_METADATA_KEY:
            raise Malformed(f"{what}'s metadata has a key longer than {MAX_METADATA_KEY} characters")
        if not isinstance(value, str):
            raise Malformed(f"{what}'s metadata has non-string values")
        if len(value) > MAX_METADATA_VALUE:
            raise Malformed(f"{what}'s metadata value `{key}` has {len(value)} characters; "
                            f"Stripe allows {MAX_METADATA_VALUE}")


def check_optional_text(raw: dict, field: str, limit: int, what: str) -> None:
    value = raw.get(field)
    if value is None:
        return
    if not isinstance(value, str):
        raise Malformed(f"{what}'s `{field}` is not text")
    if len(value) > limit:
        raise Malformed(f"{what}'s `{field}` has {len(value)} characters; at most {limit} are stored")


def _amount(raw: dict, field: str, what: str) -> None:
    value = raw.get(field)
    if value is not None and (type(value) is not int):
        raise Malformed(f"{what}'s `{field}` is not a whole number of minor units")


def _decimal(raw: dict, field: str, what: str) -> None:
    value = raw.get(field)
    if value is not None and not (isinstance(value, str) and DECIMAL.fullmatch(value)):
        raise Malformed(f"{what}'s `{field}` is not a decimal number")


def check_price_fields(raw: dict, what: str) -> None:
    """Amounts, tiers, quantity transform and recurrence as Stripe types them."""
    _amount(raw, "unit_amount", what)
    _amount(raw, "amount", what)
    _decimal(raw, "unit_amount_decimal", what)
    check_optional_text(raw, "lookup_key", MAX_LOOKUP_KEY, what)
    for index, tier in enumerate(raw.get("tiers") or []):
        if not isinstance(tier, dict):
            raise Malformed(f"{what}'s tier {index + 1} is not an object")
        up_to = tier.get("up_to")
        if not (up_to is None or up_to == "inf" or type(up_to) is int):
            raise Malformed(f"{what}'s tier {index + 1} has an invalid `up_to`")
        for field in ("unit_amount", "flat_amount"):
            _amount(tier, field, f"{what}'s tier {index + 1}")
            _decimal(tier, f"{field}_decimal", f"{what}'s tier {index + 1}")
    transform = raw.get("transform_quantity")
    if transform is not None and not (isinstance(transform, dict) and type(transform.get("divide_by")) is int
                                      and transform["divide_by"] > 0 and transform.get("round") in ("up", "down")):
        raise Malformed(f"{what}'s `transform_quantity` needs a positive `divide_by` and `round` up or down")
    recurring = raw.get("recurring")
    if recurring is not None and not (isinstance(recurring, dict) and recurring.get("interval") in INTERVALS
                                      and type(recurring.get("interval_count", 1)) is int
                                      and recurring.get("interval_count", 1) > 0):
        raise Malformed(f"{what}'s `recurring` needs an interval (day, week, month, year) and a positive count")
    if "interval" in raw and raw.get("object") == "plan" and raw["interval"] not in INTERVALS:
        raise Malformed(f"{what}'s `interval` is not day, week, month or year")


def quarantine_id(raw: Any) -> str:
    """The id a quarantine entry is filed under: the object's id when it can be stored, else
    a bounded, distinct label (`sha256:…`) — an id that broke a limit is never stored whole."""
    value = raw.get("id") if isinstance(raw, dict) else None
    if not isinstance(value, str) or not value:
        return "?"
    if len(value) <= MAX_ID and "\x00" not in value and value.isprintable():
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            pass
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
