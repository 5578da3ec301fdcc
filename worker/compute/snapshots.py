"""Contact snapshots from the stored mirror, without writing anything (adapter).

`compute_snapshots` is what `accounts` shows; `recompute` (worker.compute.history) uses it and
then stores the result. Linked contacts: every Contact row (a contact without Stripe customers
gets MRR 0 in the reporting currency and no stage). `unlinked_customers`: one entry per
non-deleted Stripe customer that links to no contact, with `contact_id` null.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.orm import Session

from worker.compute import mirror
from worker.compute.dirty import next_time_change
from worker.core.accounts import ContactInfo, Explained, contact_snapshot
from worker.core.money import FxTable
from worker.core.snapshot import ContactSnapshot
from worker.core.stages import StageRules
from worker.errors import LifecycleError
from worker.logs import get_logger
from worker.rules.model import SourceConfig, StagesConfig
from worker.store.models import ContactState

log = get_logger("compute")


@dataclass
class Computed:
    """One contact's new snapshot, with what the history writer needs to date the change."""

    explained: Explained
    previous: ContactSnapshot | None
    at: datetime  # when a change in this snapshot happened (see `history_time`)
    changed: bool  # differs from `previous` (always True for a contact seen first)
    state: ContactState | None  # the stored state row, to update in place
    recompute_at: datetime | None = None  # when time alone may change it (worker.compute.dirty)

    @property
    def snapshot(self) -> ContactSnapshot:
        return self.explained.snapshot


def compute_contacts(session: Session, source: SourceConfig, stages: StagesConfig, *, now: datetime,
                     contact_ids: Sequence[str] | None = None, at: datetime | None = None,
                     explain: bool = False, problems: list[tuple[str, str]] | None = None) -> list[Computed]:
    """Compute (do not store) the snapshots of these contacts, or of every contact.

    A contact that cannot be computed (e.g. a currency without an FX rate) is left out and
    logged; `problems`, when given, also receives (contact id, message)."""
    ids = None if contact_ids is None else sorted(set(contact_ids))
    contacts = mirror.load_contacts(session, ids)
    ids = sorted(contacts)
    grouped = mirror.group_by_contact(mirror.load_customers(session, contact_ids=None if contact_ids is None else ids))
    states = mirror.load_states(session, ids)
    last_at = mirror.last_history_at(session, ids)
    names = mirror.product_names(session)
    rules, fx = StageRules.compile(stages), FxTable.from_config(source.mrr)
    previous_of = {cid: ContactSnapshot.from_state(s.snapshot) for cid, s in states.items()}
    history = mirror.status_runs(session, _unseen_subscriptions(ids, grouped, previous_of))
    found = []
    for contact_id in ids:
        state, previous = states.get(contact_id), previous_of.get(contact_id)
        data = grouped.get(contact_id, [])
        changed = max((t for d in data for t in d.changed_at), default=None)
        when = at or history_time(changed, last_at.get(contact_id), now)
        subscriptions = [s for d in data for s in d.subscriptions]
        try:
            explained = contact_snapshot(
                contacts[contact_id], [d.customer for d in data], subscriptions,
                preset=source.mrr.preset, fx=fx, stages=rules, now=now, at=when, previous=previous,
                product_names=names, status_history=history, explain=explain)
        except Exception as exc:  # noqa: BLE001 - one contact's bad data must not stop the rest
            message = _skip(contact_id, exc)
            if problems is not None:
                problems.append((contact_id, message))
            continue
        explained.snapshot, changed = _mark_change(explained.snapshot, previous, state, when)
        found.append(Computed(explained, previous, when, changed, state, next_time_change(subscriptions, now, [d.customer.get("discount") for d in data
                                                                      if d.customer.get("discount")])))
    return found


def _skip(contact_id: str, exc: Exception) -> str:
    """Leave the contact as it was (its stored state stays), say why with the fix; the message."""
    if isinstance(exc, LifecycleError):
        message = str(exc)
    else:
        message = f"{type(exc).__name__}: {exc}. This is a bug; please report it with this line."
    log.error("contact_not_computed", contact_id=contact_id, error=message)
    return message


def _unseen_subscriptions(ids: Sequence[str], grouped: dict, previous_of: dict[str, ContactSnapshot]) -> list[str]:
    """Subscriptions missing from their contact's last snapshot (their status history is read)."""
    unseen = []
    for contact_id in ids:
        previous = previous_of.get(contact_id)
        known = {s.id for s in previous.subscriptions} if previous else set()
        unseen += [s["id"] for d in grouped.get(contact_id, []) for s in d.subscriptions if s.get("id") not in known]
    return unseen


def _mark_change(new: ContactSnapshot, previous: ContactSnapshot | None, state: ContactState | None,
                 when: datetime) -> tuple[ContactSnapshot, bool]:
    """`changed_at`: kept from the previous snapshot when nothing else changed, else `when`;
    and whether anything changed. Compared in stored (JSON) form, as the next run will see it."""
    if previous is not None and state is not None:
        stored = {k: v for k, v in state.snapshot.items() if k != "changed_at"}
        candidate = new.to_state()
        candidate.pop("changed_at", None)
        if stored == candidate:
            return replace(new, changed_at=previous.changed_at), False
    return replace(new, changed_at=when), True


def history_time(changed: datetime | None, last: datetime | None, now: datetime) -> datetime:
    """When a change happened: the latest Stripe change time of the contact's objects when it
    is newer than its last history row (and not in the future), else `now`; never earlier
    than the last history row, so a contact's history never runs backwards."""
    if changed is not None and changed <= now and (last is None or changed > last):
        return changed
    return max(now, last) if last is not None else now


def compute_snapshots(session: Session, source: SourceConfig, stages: StagesConfig, *, now: datetime,
                      contact_ids: Sequence[str] | None = None, explain: bool = False,
                      problems: list[tuple[str, str]] | None = None) -> list[Explained]:
    """Read-only: every (or these) contacts' snapshots as of `now`, sorted by contact id."""
    return [c.explained for c in compute_contacts(session, source, stages, now=now, contact_ids=contact_ids,
                                                  explain=explain, problems=problems)]


def unlinked_customers(session: Session, source: SourceConfig, stages: StagesConfig, *, now: datetime,
                       explain: bool = False) -> list[Explained]:
    """One snapshot per Stripe customer that links to no contact (`contact_id` null)."""
    rules, fx = StageRules.compile(stages), FxTable.from_config(source.mrr)
    names = mirror.product_names(session)
    found = []
    for customer_id, data in sorted(mirror.load_customers(session, unlinked=True).items()):
        found.append(contact_snapshot(
            ContactInfo(None), [data.customer], data.subscriptions, preset=source.mrr.preset, fx=fx,
            stages=rules, now=now, product_names=names, explain=explain))
    return found
