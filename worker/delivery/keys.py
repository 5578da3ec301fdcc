"""Idempotency keys of deliveries (pure core).

A key is derived only from what identifies the delivery, never from when or how often it is
attempted, so every retry (and every duplicate queue message) carries the same key and a
receiver that honours `Idempotency-Key` sees the delivery exactly once.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from worker.core.snapshot import iso

PREFIX = "lc"


def action_idempotency_key(firing_id: int, index: int) -> str:
    """The key of action `index` (0-based position in `do:`) of firing `firing_id`."""
    if firing_id is None or index < 0:
        raise ValueError("an action key needs a firing id and a non-negative action index")
    return f"{PREFIX}-f{int(firing_id)}-a{int(index)}"


def destination_idempotency_key(index: int, contact_id: str, changed_at: datetime,
                                traits: dict[str, Any]) -> str:
    """The key of one push to destination `index`: contact, change time and the pushed values.

    The same change evaluated twice (a re-run after a crash) gives the same key; a later change
    back to earlier values has another `changed_at`, hence another key.
    """
    material = json.dumps([index, contact_id, iso(changed_at), traits], sort_keys=True, default=str,
                          separators=(",", ":"))
    digest = hashlib.sha256(material.encode()).hexdigest()[:40]
    return f"{PREFIX}-d{int(index)}-{digest}"
