"""The shipped `rules/stages.yaml` is the seed's Trial → Customer → Churn example, and a stage
naming a status Stripe does not have is a rule-file error (issue #4, item 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.mrr.test_renewal_and_stages import SEED
from worker.core.stages import StageRules
from worker.errors import RuleFileError
from worker.rules.loader import load_rules

SHIPPED = Path(__file__).resolve().parents[2] / "rules"


def test_shipped_stages_reproduce_the_seed_example(tmp_path):
    for name in ("stages.yaml", "stripe.yaml"):  # the automations need secrets from the environment
        (tmp_path / name).write_text((SHIPPED / name).read_text())
    rules = load_rules(tmp_path, {})
    assert rules.stages == SEED
    staged = StageRules.compile(rules.stages)
    # the seed: trial = trialing; customer = active, incomplete, incomplete_expired, past_due, unpaid;
    # churn = canceled
    assert {s: staged.stage([s]) for s in ["trialing", "active", "incomplete", "incomplete_expired",
                                           "past_due", "unpaid", "canceled", "paused"]} == {
        "trialing": "trial", "active": "customer", "incomplete": "customer", "incomplete_expired": "customer",
        "past_due": "customer", "unpaid": "customer", "canceled": "churn", "paused": None}


def test_an_unknown_status_in_a_stage_is_a_rule_file_error(tmp_path):
    (tmp_path / "stages.yaml").write_text("stages:\n  trial: {status: [trialling]}\nprecedence: [trial]\n")
    with pytest.raises(RuleFileError) as caught:
        load_rules(tmp_path, {})
    assert any(p.startswith("stages.yaml:2:") and "trialling" in p for p in caught.value.problems)
