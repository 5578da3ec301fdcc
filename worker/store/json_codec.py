"""JSON text for the database's JSON columns (adapter): orjson, with the stdlib as fallback.

Every snapshot, history and mirror read parses stored JSON, and a pass reads a lot of it;
orjson is several times faster than the stdlib. Writing, what orjson refuses (integers beyond
64 bits, non-string keys) goes through the stdlib, which still raises for what JSON cannot
hold (a Decimal, a datetime): money and times are stored as integers and ISO text. Reading,
text orjson rejects goes to the stdlib. orjson writes NaN as null and reads an integer beyond
64 bits as a float; neither occurs in Stripe objects or in what the worker stores.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> str:
    """Compact JSON text; orjson, falling back to the stdlib for what orjson refuses."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"))


def loads(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
