"""The meaning of `on`, `within`, `from`/`to` and `if:` — the same table for both matchers."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from worker.core.occurrences import Occurrence
from worker.engine import build_matcher
from worker.rules.model import Automation, Comparison, Conditions

DAY = 86_400


@pytest.fixture(params=["reference", "durable"])
def kind(request) -> str:
    return request.param


def occ(trigger="renewal_due", **kw) -> Occurrence:
    kw.setdefault("contact_id", "c1")
    kw.setdefault("key", f"{trigger}:k")
    kw.setdefault("stage", "customer")
    kw.setdefault("mrr", Decimal("150.00"))
    return Occurrence(trigger=trigger, **kw)


def auto(on="renewal_due", within=None, **kw) -> Automation:
    conditions = Conditions(**kw.pop("if_", {}))
    return Automation(name=kw.pop("name", "a"), on=on, within=within, conditions=conditions, **kw)


def matched(kind, automation, occurrence) -> bool:
    matcher = build_matcher([automation], kind)
    try:
        found = matcher.match([occurrence])
    finally:
        matcher.close()
    assert len(found) <= 1
    return bool(found)


CASES = [
    # (automation, occurrence, matches)
    (auto(), occ(), True),
    (auto(on="trial_ending"), occ(), False),  # another trigger
    (auto(within=timedelta(days=30)), occ(seconds_until=30 * DAY), True),  # edge inside
    (auto(within=timedelta(days=30)), occ(seconds_until=30 * DAY + 1), False),
    (auto(within=timedelta(days=30, microseconds=1)), occ(seconds_until=30 * DAY), True),
    (auto(within=timedelta(days=30)), occ(), False),  # no seconds_until: not due
    (auto(on="past_due_for", within=timedelta(days=3)), occ("past_due_for", seconds_since=3 * DAY), True),
    (auto(on="past_due_for", within=timedelta(days=3)), occ("past_due_for", seconds_since=3 * DAY - 1), False),
    (auto(on="past_due_for", within=timedelta(days=3, microseconds=1)),
     occ("past_due_for", seconds_since=3 * DAY), False),
    (auto(on="stage_changed", from_=("trial",), to=("customer",)),
     occ("stage_changed", from_stage="trial", to_stage="customer"), True),
    (auto(on="stage_changed", from_=("trial",)), occ("stage_changed", from_stage=None, to_stage="trial"), False),
    (auto(on="stage_changed", to=("churn", "customer")), occ("stage_changed", to_stage="customer"), True),
    (auto(if_={"stage": ("customer",)}), occ(stage="trial"), False),
    (auto(if_={"stage": ("trial", "customer")}), occ(), True),
    (auto(if_={"stage": ()}), occ(), False),  # one of nothing
    (auto(if_={"stage": ("customer",)}), occ(stage=None), False),
    (auto(if_={"mrr": Comparison(op=">=", value=Decimal(150))}), occ(), True),
    (auto(if_={"mrr": Comparison(op=">", value=Decimal(150))}), occ(), False),
    (auto(if_={"mrr": Comparison(op=">=", value=Decimal("150.0001"))}), occ(), False),
    (auto(if_={"mrr": Comparison(op=">", value=Decimal("149.9999"))}), occ(), True),
    (auto(if_={"mrr": Comparison(op="<=", value=Decimal("150.0001"))}), occ(), True),
    (auto(if_={"mrr": Comparison(op="<", value=Decimal("150.0001"))}), occ(), True),
    (auto(if_={"mrr": Comparison(op="==", value=Decimal("150.0001"))}), occ(), False),
    (auto(if_={"mrr": Comparison(op="!=", value=Decimal("150.0001"))}), occ(), True),
    (auto(if_={"mrr": Comparison(op="==", value=Decimal(150))}), occ(), True),
    (auto(if_={"mrr": Comparison(op="!=", value=Decimal(150))}), occ(), False),
    (auto(if_={"mrr": Comparison(op="<", value=Decimal(0))}), occ(mrr=Decimal("-0.001")), True),
    (auto(if_={"plan": ("pro", "enterprise")}), occ(plans=("basic", "pro")), True),
    (auto(if_={"plan": ("pro",)}), occ(plans=("basic",)), False),
    (auto(if_={"plan": ("pro",)}), occ(plans=()), False),
    (auto(if_={"metadata": {"segment": ("smb",)}}), occ(metadata={"segment": "smb"}), True),
    (auto(if_={"metadata": {"segment": ("smb",)}}), occ(metadata={"segment": "ent"}), False),
    (auto(if_={"metadata": {"segment": ("smb",)}}), occ(metadata={}), False),
    (auto(if_={"metadata": {"a.b": ('x"y',), "é": ("",)}}), occ(metadata={"a.b": 'x"y', "é": ""}), True),
    (auto(if_={"metadata": {"segment": ("smb",), "region": ("eu",)}}),
     occ(metadata={"segment": "smb", "region": "us"}), False),
]


@pytest.mark.parametrize(("automation", "occurrence", "expected"), CASES)
def test_matching_semantics(kind, automation, occurrence, expected):
    assert matched(kind, automation, occurrence) is expected


def test_matches_come_in_occurrence_then_definition_order(kind):
    automations = [auto(name="late", within=timedelta(days=30)), auto(name="other", on="canceled"),
                   auto(name="soon", within=timedelta(days=7))]
    occurrences = [occ(contact_id="c1", seconds_until=3 * DAY), occ("canceled", contact_id="c2"),
                   occ(contact_id="c3", seconds_until=20 * DAY)]
    matcher = build_matcher(automations, kind)
    found = [(m.automation.name, m.occurrence.contact_id) for m in matcher.match(occurrences)]
    matcher.close()
    assert found == [("late", "c1"), ("soon", "c1"), ("other", "c2"), ("late", "c3")]


def test_one_occurrence_matches_every_automation_that_holds_not_just_the_first(kind):
    """durable_rules consumes an event with one rule; one ruleset per automation avoids that."""
    automations = [auto(name=f"a{i}") for i in range(5)]
    matcher = build_matcher(automations, kind)
    assert [m.automation.name for m in matcher.match([occ()])] == ["a0", "a1", "a2", "a3", "a4"]
    matcher.close()


def test_no_automations_match_nothing(kind):
    matcher = build_matcher([], kind)
    assert matcher.match([occ()]) == []
    matcher.close()
