"""JSON text for the database's JSON columns (adapter): orjson, with the stdlib as fallback.

Every snapshot, history and mirror read parses stored JSON, and a pass reads a lot of it;
orjson is several times faster than the stdlib. It refuses a few things the stdlib accepts
(integers beyond 64 bits, non-string keys), so those go through the stdlib instead of failing.
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
        return json.dumps(value, separators=(",", ":"), default=str)


def loads(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
