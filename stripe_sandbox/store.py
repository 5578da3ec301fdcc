"""In-memory object store of the sandbox, with Stripe's list order kept as a sorted index.

Each collection keeps its objects by id and an ascending sorted list of keys
`(created, seq, id)`: new objects append at the end (no O(n) insert), "newest first" is the
list read backwards, and a page after/before any id is a bisect away (no scan per page).
Objects are plain dicts in the current API shape, references held as ids; the renderer
embeds and expands them on the way out.
"""

from __future__ import annotations

import bisect
import itertools
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

Key = tuple[int, int, str]

ID_PREFIX = {
    "customer": "cus",
    "subscription": "sub",
    "subscription_item": "si",
    "price": "price",
    "product": "prod",
    "coupon": "co",
    "discount": "di",
    "event": "evt",
    "invoice": "in",
    "line_item": "il",
}


@dataclass
class Collection:
    """One object type: objects by id plus the ascending key index of the listed ones."""

    objects: dict[str, dict] = field(default_factory=dict)
    keys: list[Key] = field(default_factory=list)
    key_of: dict[str, Key] = field(default_factory=dict)

    def add(self, obj: dict, seq: int, *, index: bool = True) -> None:
        self.objects[obj["id"]] = obj
        key = (int(obj.get("created", obj.get("start")) or 0), seq, obj["id"])
        self.key_of[obj["id"]] = key
        if index:
            bisect.insort(self.keys, key)

    def add_bulk(self, objs: list[dict], seqs: Iterator[int]) -> None:
        """Add many objects and re-sort once (the generator's path: O(n log n), not O(n²))."""
        for obj, seq in zip(objs, seqs):
            self.objects[obj["id"]] = obj
            key = (int(obj.get("created", obj.get("start")) or 0), seq, obj["id"])
            self.key_of[obj["id"]] = key
            self.keys.append(key)
        self.keys.sort()

    def unlist(self, obj_id: str) -> None:
        """Drop from list results (deleted objects); the key stays so cursors keep working."""
        key = self.key_of.get(obj_id)
        if key is None:
            return
        pos = bisect.bisect_left(self.keys, key)
        if pos < len(self.keys) and self.keys[pos] == key:
            del self.keys[pos]


class ObjectStore:
    """All sandbox collections plus id and sequence generation."""

    def __init__(self, seed: int | None = None) -> None:
        self.collections: dict[str, Collection] = {name: Collection() for name in ID_PREFIX}
        self._seq = itertools.count(1)
        self._ids = itertools.count(1)
        self._tag = secrets.token_hex(3) if seed is None else f"{seed % 0xFFFFFF:06x}"
        self.by_customer: dict[str, list[str]] = {}
        self.invoices_of: dict[str, list[str]] = {}  # subscription id → its invoice ids, oldest first
        self.deleted_customers: set[str] = set()
        self.generation = 0  # bumped on every change; rendered-JSON caches compare it

    def touch(self) -> None:
        """Note that something changed (cached renderings are stale)."""
        self.generation += 1

    def __getitem__(self, object_type: str) -> Collection:
        return self.collections[object_type]

    def new_id(self, object_type: str) -> str:
        return f"{ID_PREFIX[object_type]}_{self._tag}{next(self._ids):010d}"

    def next_seq(self) -> int:
        return next(self._seq)

    def seqs(self) -> Iterator[int]:
        return self._seq

    def add(self, object_type: str, obj: dict, *, index: bool = True) -> dict:
        self.generation += 1
        self.collections[object_type].add(obj, next(self._seq), index=index)
        if object_type == "subscription":
            self.by_customer.setdefault(obj["customer"], []).append(obj["id"])
        return obj

    def add_bulk(self, object_type: str, objs: list[dict]) -> None:
        self.generation += 1
        self.collections[object_type].add_bulk(objs, self._seq)
        if object_type == "subscription":
            for obj in objs:
                self.by_customer.setdefault(obj["customer"], []).append(obj["id"])

    def get(self, object_type: str, obj_id: str) -> dict | None:
        return self.collections[object_type].objects.get(obj_id)

    def subscriptions_of(self, customer_id: str) -> list[str]:
        return list(self.by_customer.get(customer_id, ()))

    def filter_ids(self, object_type: str, ids: list[str], accept: Callable[[dict], bool]) -> list[str]:
        objects = self.collections[object_type].objects
        return [i for i in ids if accept(objects[i])]
