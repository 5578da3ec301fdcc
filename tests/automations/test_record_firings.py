"""Recording a pass's matches in a few multi-row statements (worker.automations.firing)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from actions.registry import get_handler
from tests.triggers.builders import contact, sub
from worker.automations.firing import INSERT_CHUNK, record_firing, record_firings
from worker.core.occurrences import Occurrence
from worker.rules.model import ActionSpec, Automation
from worker.store.models import Delivery, Firing

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def _log_action() -> ActionSpec:
    return ActionSpec(handler="log", params=get_handler("log").Params(), line=1)


def _occurrence(contact_id: str) -> Occurrence:
    return Occurrence(trigger="renewal_due", contact_id=contact_id, key="renewal_due:2026-03-10",
                      due_at=NOW + timedelta(days=9))


def test_only_new_firings_are_returned_in_order_with_deliveries_for_the_treated_arm(store):
    treated = Automation(name="remind", on="renewal_due", actions=(_log_action(),))
    control = Automation(name="remind-control", on="renewal_due", actions=(_log_action(),),
                         holdout=Decimal(1))
    snapshot = contact("customer", sub("sub_1"))
    ids = [f"c{i:04d}" for i in range(INSERT_CHUNK + 5)]  # more than one INSERT statement
    with store.session() as session:
        assert record_firing(session, treated, _occurrence(ids[3]), snapshot, now=NOW) is not None
    matches = [(a, _occurrence(c), snapshot) for c in ids for a in (treated, control)]
    with store.session() as session:
        fired = record_firings(session, matches, now=NOW)
    expected = [(a.name, c) for c in ids for a in (treated, control) if (a, c) != (treated, ids[3])]
    assert [(f.automation, f.contact_id) for f in fired] == expected
    assert {f.arm for f in fired if f.automation == "remind"} == {"treated"}
    assert all(len(f.delivery_ids) == 1 for f in fired if f.arm == "treated")
    assert all(f.delivery_ids == () for f in fired if f.arm == "holdout")
    with store.session() as session:
        firings = session.scalar(select(func.count()).select_from(Firing))
        by_firing = dict(session.execute(select(Delivery.firing_id, Delivery.contact_id)).all())
    assert firings == 2 * len(ids)
    assert {by_firing[f.firing_id] for f in fired if f.arm == "treated"} == set(ids) - {ids[3]}
    with store.session() as session:
        assert record_firings(session, matches, now=NOW) == []  # at most once, ever
