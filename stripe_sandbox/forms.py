"""Decoding Stripe's form encoding (`a[b][0][c]=v`, `expand[]=x`, `expand[0]=x`) from query
strings and POST bodies into nested dicts and lists."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

_PART = re.compile(r"\[([^\]]*)\]")


def _split(key: str) -> list[str]:
    head = key.split("[", 1)[0]
    return [head, *_PART.findall(key[len(head):])]


def _listify(node: object) -> object:
    """Dicts whose keys are all indexes ('0', '1', or '' for `[]`) become lists."""
    if not isinstance(node, dict):
        return node
    converted = {k: _listify(v) for k, v in node.items()}
    if converted and all(k.isdigit() or k.startswith("\x00") for k in converted):
        return [converted[k] for k in sorted(converted, key=_order)]
    return converted


def _order(key: str) -> int:
    return int(key[1:]) if key.startswith("\x00") else int(key)


def decode(raw: str) -> dict:
    """Nested params from an urlencoded string; blank values are kept as ''."""
    root: dict = {}
    appended = 0
    for key, value in parse_qsl(raw, keep_blank_values=True):
        parts = _split(key)
        node = root
        for i, part in enumerate(parts):
            if part == "":
                part = f"\x00{appended}"
                appended += 1
            if i == len(parts) - 1:
                node[part] = value
            else:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    break
    return {k: _listify(v) for k, v in root.items()}


def as_list(value: object) -> list:
    """A param that may be given once or as a list."""
    if value is None or value == "":
        return []
    return value if isinstance(value, list) else [value]
