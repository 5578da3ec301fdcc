"""Destination pushes (PRODUCT.md §4 `destinations.yaml`): what changed, and its delivery rows.

`destination_pushes(prev, new, destinations)` is pure: for each destination whose pushed
traits (a subset of stage, mrr, renewal_date, plan, status) differ between the previous and
the new snapshot of a contact, one `Push(index, traits, handler)` with the new values. A
contact seen for the first time (`prev` None) is pushed once. Unchanged traits push nothing,
so each change goes out once.

`create_destination_deliveries(session, snapshot, pushes, now)` writes one delivery row per
push inside the caller's transaction (the evaluate step's), keyed so that evaluating the same
change twice inserts nothing new. The row holds no secrets: the destination's parameters are
read from the current rules at send time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from actions.traits import contact_traits, primary_subscription
from worker.core.snapshot import ContactSnapshot, iso
from worker.delivery.keys import destination_idempotency_key
from worker.delivery.rows import insert_delivery
from worker.rules.model import Destination

DESTINATION_TRIGGER = "traits_changed"


class Push(NamedTuple):
    index: int  # position of the destination in the rules' `destinations:`
    traits: dict[str, Any]  # the destination's traits, new values
    handler: str


def destination_target(index: int) -> str:
    return f"destination#{index}"


def snapshot_traits(snapshot: ContactSnapshot) -> dict[str, Any]:
    """Every pushable trait of a contact, from its snapshot (plan needs the subscriptions' plans)."""
    return contact_traits(snapshot.to_state(), None)


def destination_pushes(prev: ContactSnapshot | None, new: ContactSnapshot,
                       destinations: Sequence[Destination]) -> list[Push]:
    """The pushes one contact's change calls for, destination by destination (pure)."""
    after = snapshot_traits(new)
    before = snapshot_traits(prev) if prev is not None else None
    pushes = []
    for index, destination in enumerate(destinations):
        names = tuple(destination.traits)
        new_values = {name: after.get(name) for name in names}
        if before is not None and new_values == {name: before.get(name) for name in names}:
            continue
        pushes.append(Push(index, new_values, destination.handler))
    return pushes


def push_payload(snapshot: ContactSnapshot, traits: dict[str, Any], changed_at: datetime) -> dict[str, Any]:
    """What a destination delivery row holds: the contact JSON, its main subscription, traits."""
    state = snapshot.to_state()
    return {
        "contact": snapshot.to_json(),
        "subscription": primary_subscription(state, None),
        "traits": traits,
        "changed_at": iso(changed_at),
    }


def create_destination_deliveries(session: Session, snapshot: ContactSnapshot, pushes: Sequence[Push],
                                  now: datetime) -> list[int]:
    """Insert one pending delivery per push (in the caller's transaction); the new rows' ids.

    A push already recorded (same destination, contact, change time and values) is skipped.
    """
    if snapshot.contact_id is None:
        return []
    changed_at = snapshot.changed_at or now
    ids = []
    for push in pushes:
        key = destination_idempotency_key(push.index, snapshot.contact_id, changed_at, push.traits)
        new_id = insert_delivery(
            session, firing_id=None, contact_id=snapshot.contact_id, kind="destination",
            handler=push.handler, target=destination_target(push.index), idempotency_key=key,
            payload=push_payload(snapshot, push.traits, changed_at), now=now,
        )
        if new_id is not None:
            ids.append(new_id)
    return ids
