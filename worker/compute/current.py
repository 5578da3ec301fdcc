"""Every contact's snapshot as of a moment, a chunk at a time, from stored state where it is
current (adapter, read-only).

`accounts --json` used to rebuild every contact's snapshot from the raw Stripe JSON and hold
them all (2.3 GB at 100,000 customers). A stored ContactState snapshot is what a recompute
would produce again as long as none of its inputs moved (worker.compute.dirty): the rules'
fingerprint is the one it was computed under, the contact's mirror digest is unchanged, no
discount starts or ends between its compute and the moment (`recompute_at`), and the moment is
not before its compute. Those are read as stored; the rest are computed, CHUNK contacts at a
time, without writing anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.compute import dirty
from worker.compute.snapshots import compute_snapshots
from worker.core.snapshot import ContactSnapshot
from worker.rules.model import SourceConfig, StagesConfig
from worker.store.models import Contact, ContactState, SyncState

CHUNK = 500


def current_snapshots(session: Session, source: SourceConfig, stages: StagesConfig, *, now: datetime,
                      problems: list[tuple[str, str]] | None = None, chunk: int = CHUNK,
                      computed: list[str] | None = None) -> Iterator[ContactSnapshot]:
    """Each contact's snapshot as of `now`, in contact id order. `computed`, when given,
    receives the ids that had to be computed (the others were read as stored)."""
    row = session.get(SyncState, dirty.STATE_KEY)
    rules_same = row is not None and row.value.get("fingerprint") == dirty.fingerprint(session, source, stages)
    after = ""
    while True:
        ids = list(session.scalars(select(Contact.id).where(Contact.id > after).order_by(Contact.id).limit(chunk)))
        if not ids:
            return
        after = ids[-1]
        stored = _stored(session, ids, now) if rules_same else {}
        stale = [cid for cid in ids if cid not in stored]
        fresh = {e.snapshot.contact_id: e.snapshot
                 for e in compute_snapshots(session, source, stages, now=now, contact_ids=stale, problems=problems)
                 } if stale else {}
        if computed is not None:
            computed += stale
        for cid in ids:
            snapshot = stored.get(cid) or fresh.get(cid)
            if snapshot is not None:
                yield snapshot
        session.expunge_all()  # nothing of this chunk stays in the session's identity map


def _stored(session: Session, ids: list[str], now: datetime) -> dict[str, ContactSnapshot]:
    """The stored snapshots of these contacts that are still current as of `now`."""
    keys = dirty.mirror_keys(session, ids)
    query = select(ContactState.contact_id, ContactState.snapshot, ContactState.mirror_key,
                   ContactState.recompute_at, ContactState.computed_at).where(ContactState.contact_id.in_(ids))
    found = {}
    for contact_id, snapshot, key, recompute_at, computed_at in session.execute(query):
        if key is None or key != keys.get(contact_id) or computed_at > now:
            continue
        if recompute_at is not None and recompute_at <= now:
            continue
        found[contact_id] = ContactSnapshot.from_state(snapshot)
    return found
