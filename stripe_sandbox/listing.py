"""Stripe list pagination: newest first, `limit` 1..100, `starting_after` / `ending_before`,
`has_more`. Works on a collection's sorted key index (bisect, then walk only as far as the page
needs) or on an already ordered id sequence (nested lists, per-customer subsets)."""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass

from stripe_sandbox.api_errors import ApiError, invalid
from stripe_sandbox.store import Collection

Accept = Callable[[dict], bool]


@dataclass(frozen=True)
class PageRequest:
    limit: int = 10
    starting_after: str | None = None
    ending_before: str | None = None

    @classmethod
    def from_params(cls, params: dict) -> PageRequest:
        raw = params.get("limit", 10)
        try:
            limit = int(raw)
        except (TypeError, ValueError):
            raise invalid(f"Invalid integer: {raw}", "limit") from None
        if not 1 <= limit <= 100:
            raise invalid("This value must be greater than or equal to 1 and less than or equal "
                          f"to 100 (it currently is {limit}).", "limit")
        after, before = params.get("starting_after") or None, params.get("ending_before") or None
        if after and before:
            raise invalid("You may only specify one of these parameters: ending_before, "
                          "starting_after.", "ending_before")
        return cls(limit, after, before)


def _cursor_key(collection: Collection, obj_id: str, param: str):
    key = collection.key_of.get(obj_id)
    if key is None:
        raise ApiError(400, f"No such object: '{obj_id}'", code="resource_missing", param=param)
    return key


def page_index(collection: Collection, page: PageRequest, accept: Accept | None = None,
               lo: int = 0, hi: int | None = None) -> tuple[list[dict], bool]:
    """One newest-first page of the collection's listed objects within index range [lo, hi)
    of its ascending key list (so "older" is "lower index")."""
    keys, objects = collection.keys, collection.objects
    hi = len(keys) if hi is None else hi
    found: list[dict] = []
    if page.ending_before:  # the page just newer than the cursor, walking up
        i = bisect.bisect_right(keys, _cursor_key(collection, page.ending_before, "ending_before"), lo, hi)
        i = max(i, lo)
        while i < hi and len(found) <= page.limit:
            obj = objects[keys[i][2]]
            if accept is None or accept(obj):
                found.append(obj)
            i += 1
        return list(reversed(found[: page.limit])), len(found) > page.limit
    i = hi - 1
    if page.starting_after:
        i = min(hi, bisect.bisect_left(keys, _cursor_key(collection, page.starting_after, "starting_after"), lo, hi)) - 1
    while i >= lo and len(found) <= page.limit:
        obj = objects[keys[i][2]]
        if accept is None or accept(obj):
            found.append(obj)
        i -= 1
    return found[: page.limit], len(found) > page.limit


def page_sequence(ordered: list[dict], page: PageRequest, accept: Accept | None = None) -> tuple[list[dict], bool]:
    """One page of an already ordered list of objects (small: nested lists, one customer's)."""
    rows = [o for o in ordered if accept is None or accept(o)]
    ids = [o["id"] for o in rows]
    if page.ending_before:
        if page.ending_before not in ids:
            raise ApiError(400, f"No such object: '{page.ending_before}'", code="resource_missing",
                           param="ending_before")
        end = ids.index(page.ending_before)
        start = max(0, end - page.limit)
        return rows[start:end], start > 0
    start = 0
    if page.starting_after:
        if page.starting_after not in ids:
            raise ApiError(400, f"No such object: '{page.starting_after}'", code="resource_missing",
                           param="starting_after")
        start = ids.index(page.starting_after) + 1
    chunk = rows[start : start + page.limit + 1]
    return chunk[: page.limit], len(chunk) > page.limit


def created_range(collection: Collection, created: object) -> tuple[int, int]:
    """Index range [lo, hi) of objects whose `created` satisfies `created[gt|gte|lt|lte]` (or
    an exact integer), found by bisecting the ascending key list."""
    keys = collection.keys
    if created in (None, ""):
        return 0, len(keys)
    bounds = created if isinstance(created, dict) else {"gte": created, "lte": created}
    try:
        values = {op: int(v) for op, v in bounds.items()}
    except (TypeError, ValueError):
        raise invalid("Invalid timestamp in created", "created") from None
    lower = [values["gte"]] if "gte" in values else []
    lower += [values["gt"] + 1] if "gt" in values else []
    upper = [values["lte"]] if "lte" in values else []
    upper += [values["lt"] - 1] if "lt" in values else []
    oldest, newest = max(lower, default=None), min(upper, default=None)
    lo = 0 if oldest is None else bisect.bisect_left(keys, (oldest,))
    hi = len(keys) if newest is None else bisect.bisect_left(keys, (newest + 1,))
    return lo, max(lo, hi)
