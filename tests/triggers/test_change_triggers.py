"""Change triggers (diff of prev and new), the baseline rule and the stability of keys."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from tests.triggers.builders import DAY, NOW, USD, contact, sub
from worker.core.money import FxTable
from worker.core.triggers import TriggerSettings, occurrences

T1 = NOW - 2 * DAY


def triggers(prev, new, baseline=False, settings=USD):
    return sorted(o.trigger for o in occurrences(prev, new, NOW, settings, baseline=baseline))


@pytest.mark.parametrize(
    ("prev_stage", "new_stage", "expected"),
    [
        (None, "trial", [("stage_changed", None, "trial")]),  # first stage seen: from null
        ("trial", "customer", [("stage_changed", "trial", "customer")]),
        ("customer", "churn", [("stage_changed", "customer", "churn")]),
        ("churn", "customer", [("reactivated", "churn", "customer"),
                               ("stage_changed", "churn", "customer")]),
        ("churn", "trial", [("stage_changed", "churn", "trial")]),  # not (yet) a customer
        ("customer", None, [("stage_changed", "customer", None)]),
        ("customer", "customer", []),
    ],
)
def test_stage_changed_and_reactivated_fire_on_transitions(prev_stage, new_stage, expected):
    prev = contact(prev_stage, mrr=0, native={})
    new = contact(new_stage, mrr=0, native={})
    found = occurrences(prev, new, NOW, USD)
    assert sorted((o.trigger, o.from_stage, o.to_stage) for o in found) == expected
    for occ in found:
        assert occ.subscription_id is None and occ.stage == new_stage


def test_first_sight_after_baseline_fires_stage_changed_from_null():
    found = occurrences(None, contact("trial", mrr=0, native={}), NOW, USD)
    assert [(o.trigger, o.from_stage, o.to_stage) for o in found] == [("stage_changed", None, "trial")]


@pytest.mark.parametrize(
    ("old_status", "new_status", "expected"),
    [
        ("active", "canceled", ["canceled"]),
        ("active", "past_due", ["payment_failed"]),
        ("active", "unpaid", ["payment_failed"]),
        ("past_due", "unpaid", []),  # the same failed-payment episode
        ("unpaid", "active", []),
        ("canceled", "canceled", []),
        ("trialing", "canceled", ["canceled"]),
    ],
)
def test_subscription_status_transitions(old_status, new_status, expected):
    prev = contact("customer", sub(status=old_status, mrr=0), native={})
    new = contact("customer", sub(status=new_status, mrr=0, status_since=T1), native={})
    found = [o for o in occurrences(prev, new, NOW, USD) if o.subscription_id and o.trigger not in
             ("renewal_due", "past_due_for")]
    assert [o.trigger for o in found] == expected
    for occ in found:
        if occ.trigger == "canceled":
            assert occ.key == "canceled:sub_1"
        else:
            assert occ.key == f"payment_failed:sub_1:{T1:%Y-%m-%dT%H:%M:%SZ}" and occ.since == T1


def test_a_subscription_never_seen_before_is_found_not_changed():
    prev = contact("customer", sub("sub_old"))
    new = contact("customer", sub("sub_old"), sub("sub_new", status="canceled", mrr=0))
    assert "canceled" not in triggers(prev, new)


@pytest.mark.parametrize(
    ("prev_native", "new_native", "expected", "previous"),
    [
        ({"usd": 10000}, {"usd": 15000}, "mrr_expanded", Decimal("100.00")),
        ({"usd": 15000}, {"usd": 10000}, "mrr_contracted", Decimal("150.00")),
        ({"usd": 10000}, {"usd": 10000}, None, None),
        ({"usd": 10000}, {"usd": 5000, "eur": 5000}, "mrr_expanded", Decimal("100.00")),  # 50+55
        ({"usd": 10600}, {"usd": 5000, "eur": 5000}, "mrr_contracted", Decimal("106.00")),
        ({"eur": 10000}, {"eur": 10001}, "mrr_expanded", Decimal("110.00")),
    ],
)
def test_mrr_changes_compare_at_todays_rates(prev_native, new_native, expected, previous):
    prev = contact("customer", native=prev_native)
    new = contact("customer", native=new_native)
    found = [o for o in occurrences(prev, new, NOW, USD) if o.trigger.startswith("mrr_")]
    assert [o.trigger for o in found] == ([] if expected is None else [expected])
    if expected:
        assert found[0].previous_mrr == previous


def test_an_fx_move_alone_is_no_mrr_change():
    """Same EUR amounts; the stored reporting MRR moved only because the rate moved."""
    prev = contact("customer", currency="usd", mrr=10800, native={"eur": 10000})
    new = contact("customer", currency="usd", mrr=11000, native={"eur": 10000})
    assert not [o for o in occurrences(prev, new, NOW, USD) if o.trigger.startswith("mrr_")]


def test_occurrence_mrr_is_major_units_of_the_reporting_currency():
    eur_only = contact("customer", sub(currency="eur", mrr=1234), currency="eur")
    [occ] = [o for o in occurrences(None, eur_only, NOW, USD) if o.trigger == "renewal_due"]
    assert occ.mrr == Decimal("13.57")  # 12.34 EUR × 1.10 = 13.574 USD, rounded half-even
    yen = TriggerSettings(fx=FxTable("jpy", {"usd": Decimal(150)}))
    [occ] = [o for o in occurrences(None, contact("customer", sub(mrr=1000)), NOW, yen)
             if o.trigger == "renewal_due"]
    assert occ.mrr == Decimal(1500)


def test_contact_triggers_see_every_plan_and_subscription_triggers_their_own():
    prev = contact("trial", sub("sub_a", plans=("pro",)), sub("sub_b", "trialing", plans=("team",)),
                   metadata={"segment": "smb"})
    new = contact("customer", sub("sub_a", plans=("pro",)), sub("sub_b", "canceled", plans=("team",)),
                  metadata={"segment": "smb"})
    by_trigger = {o.trigger: o for o in occurrences(prev, new, NOW, USD)}
    assert by_trigger["stage_changed"].plans == ("pro", "team")
    assert by_trigger["canceled"].plans == ("team",)
    assert by_trigger["canceled"].metadata == {"segment": "smb"}


def test_the_baseline_fires_only_time_based_triggers_and_future_cancellations():
    new = contact(
        "customer",
        sub("sub_due", "past_due", status_since=NOW - 5 * DAY),
        sub("sub_trial", "trialing", trial_end=NOW + DAY),
        sub("sub_leaving", cancel_at=NOW + 3 * DAY),
        sub("sub_gone", "canceled", mrr=0),
    )
    assert triggers(None, new, baseline=True) == [
        "cancellation_scheduled", "past_due_for", "renewal_due", "trial_ending"]
    assert triggers(None, new, baseline=False) == [
        "cancellation_scheduled", "mrr_expanded", "past_due_for", "renewal_due", "stage_changed",
        "trial_ending"]


def test_the_baseline_fires_no_changes_even_against_an_earlier_snapshot():
    prev = contact("trial", sub(status="active"))
    new = contact("churn", sub(status="canceled", mrr=0))
    assert triggers(prev, new, baseline=True) == []


def test_unlinked_customers_fire_nothing():
    assert occurrences(None, contact("customer", sub(), contact_id=None), NOW, USD) == []


# --- stability of keys ---------------------------------------------------------------------

def test_re_diffing_the_same_snapshots_gives_the_same_keys_at_any_time():
    prev = contact("trial", sub(status="trialing", trial_end=NOW + DAY))
    new = contact("customer", sub(status="past_due", status_since=T1, cancel_at=NOW + 9 * DAY))
    first = {o.key for o in occurrences(prev, new, NOW, USD) if o.trigger not in ("past_due_for",)}
    later = {o.key for o in occurrences(prev, new, NOW + DAY, USD) if o.trigger not in ("past_due_for",)}
    assert first == later and len(first) >= 5
    assert all("2026-11-02" not in key for key in later)  # `now` never enters a key


def test_an_unchanged_contact_fires_only_its_time_based_triggers_again_with_the_same_keys():
    new = contact("customer", sub(status="past_due", status_since=T1, cancel_at=NOW + 9 * DAY))
    first = occurrences(None, new, NOW, USD, baseline=True)
    again = occurrences(new, new, NOW + DAY / 24, USD)
    assert {o.trigger for o in again} == {"past_due_for", "renewal_due"}
    assert {o.key for o in again} <= {o.key for o in first}


@pytest.mark.parametrize("use_changed_at", [True, False])
def test_a_later_identical_transition_gets_a_new_key(use_changed_at):
    def at(stage, status, when):
        extra = {"changed_at": when} if use_changed_at else {}
        return contact(stage, sub(status=status, status_since=when, mrr=0), native={}, **extra)

    first = occurrences(at("customer", "active", T1), at("churn", "canceled", T1 + DAY), NOW, USD)
    second = occurrences(at("customer", "active", T1 + 2 * DAY), at("churn", "canceled", T1 + 3 * DAY),
                         NOW, USD)
    key = {o.key for o in first if o.trigger == "stage_changed"}
    key_again = {o.key for o in second if o.trigger == "stage_changed"}
    assert len(key) == 1 and len(key_again) == 1 and key != key_again
    if use_changed_at:
        assert key == {f"stage_changed:c1:customer->churn@{T1 + DAY:%Y-%m-%dT%H:%M:%SZ}"}


def test_keys_use_changed_at_when_the_snapshot_builder_sets_it():
    prev = contact("customer", native={"usd": 100})
    new = replace(contact("customer", native={"usd": 200}), changed_at=T1)
    [occ] = occurrences(prev, new, NOW, USD)
    assert occ.key == f"mrr_expanded:c1:@{T1:%Y-%m-%dT%H:%M:%SZ}"


def test_settings_from_rules_find_churn_and_customer_stages_and_horizons():
    from datetime import timedelta

    from worker.rules.model import (
        Automation,
        MrrConfig,
        RuleSet,
        SourceConfig,
        StageDef,
        StagesConfig,
    )

    rules = RuleSet(
        source=SourceConfig(mrr=MrrConfig(currency="eur", fx_rates={"usd": Decimal("0.9")})),
        stages=StagesConfig(stages={"trial": StageDef(status=["trialing"]),
                                    "paying": StageDef(status=["active", "past_due"]),
                                    "lost": StageDef(status=["canceled"])},
                            precedence=["paying", "trial", "lost"]),
        automations=(Automation(name="r", on="renewal_due", within=timedelta(days=30)),),
    )
    settings = TriggerSettings.from_rules(rules)
    assert settings.churn_stages == {"lost"} and settings.customer_stages == {"paying"}
    assert settings.fx.currency == "eur" and settings.horizons == {"renewal_due": timedelta(days=30)}
