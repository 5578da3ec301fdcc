"""Re-fetch many new objects with one list request (wiring).

An incremental sync re-reads every changed object at the pinned API version, one GET each.
Stripe cannot list by ids, but objects *created* after the cursor's newest event are exactly
the customers and subscriptions a `created` range lists: each of them has a `*.created` event
after the cursor, so it is one of the changes (no unchanged object is paged through). When a
chunk of changes holds several such new objects of a kind, one `GET
/v1/customers?created[gte]=low&created[lte]=high` (or subscriptions, `status=all`, with the
backfill's expansions) returns them as they are now, 100 per request, instead of one GET each;
paging stops once every wanted object is read. Objects the list does not return (deleted since,
or beyond a cap of pages: the wanted ones' pages and one more, should the range hold objects
that are not changes) are fetched one by one as before. The API-shape probe decides: the 2017
shape (localstripe) is fetched one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from worker.sync.run import SyncRun

KINDS = {"customer": "customers", "subscription": "subscriptions"}
MIN_BATCH = 3  # a list is worth it from a few objects of a kind (a list page costs one request)

Json = dict[str, Any]


class Changed(Protocol):
    object_type: str
    object_id: str
    born: int | None


def list_new(run: SyncRun, chunk: Sequence[Changed], *, since: int) -> dict[tuple[str, str], Json]:
    """(type, id) → the object as Stripe has it now, for the chunk's objects created at or
    after `since` that a `created` range list returns."""
    if run.source.legacy:
        return {}
    found: dict[tuple[str, str], Json] = {}
    for object_type, kind in KINDS.items():
        new = {c.object_id: c.born for c in chunk
               if c.object_type == object_type and c.born is not None and c.born >= since}
        if len(new) < MIN_BATCH:
            continue
        wanted = set(new)
        born = [b for b in new.values() if b is not None]
        allowed = -(-len(wanted) // 100) + 1  # the pages the wanted ones fill, and one more
        for index, page in enumerate(run.source.pages(kind, created={"gte": min(born), "lte": max(born)}), 1):
            for raw in page:
                if isinstance(raw, dict) and raw.get("id") in wanted:
                    found[(object_type, raw["id"])] = raw
                    wanted.discard(raw["id"])
            if not wanted or index >= allowed:
                break  # no further page is requested; the missing ones are fetched one by one
    return found
