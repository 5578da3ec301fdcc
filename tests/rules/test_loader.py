"""load_rules: what a valid rule set becomes, and how problems are gathered and kept secret."""

from __future__ import annotations

import os
from datetime import timedelta
from decimal import Decimal

import pytest

from worker.errors import ConfigError, RuleFileError
from worker.logs import redact
from worker.rules.loader import load_rules, rule_environment
from worker.rules.model import TIME_TRIGGERS, TRIGGERS, Comparison, Goal

from .conftest import SHIPPED


def test_shipped_rules_load_cleanly_without_any_environment():
    rules = load_rules(SHIPPED, {})
    assert rules.files == ("automations.yaml", "destinations.yaml", "stages.yaml", "stripe.yaml")
    assert list(rules.stages.stages) == ["trial", "customer", "churn"]
    assert rules.stages.stages["customer"].status == [
        "active", "incomplete", "incomplete_expired", "past_due", "unpaid"]
    assert rules.stages.precedence == ["customer", "trial", "churn"]
    assert rules.source.contacts.type == "account"
    assert rules.source.contacts.id_metadata_key == "account_id"
    assert rules.source.mrr.fx_rates == {"eur": Decimal("1.08"), "gbp": Decimal("1.27"), "jpy": Decimal("0.0067")}


def test_shipped_renewal_heads_up_reproduces_the_product_example():
    heads_up = load_rules(SHIPPED, {}).automation("renewal-heads-up")
    assert heads_up.on == "renewal_due" and heads_up.within == timedelta(days=30)
    assert heads_up.conditions.stage == ("customer",)
    assert heads_up.conditions.mrr == Comparison(op=">=", value=Decimal("100"))
    assert heads_up.conditions.plan == ("pro", "enterprise")
    assert heads_up.conditions.metadata == {"segment": ("smb",)}
    assert heads_up.goal == Goal(kind="renewal", grace=timedelta(days=3))
    assert heads_up.holdout == Decimal("0.1")
    assert [a.handler for a in heads_up.actions] == ["log"]


def test_shipped_slack_and_webhook_examples_pass_once_their_secrets_are_set(tmp_path):
    text = (SHIPPED / "automations.yaml").read_text()
    enabled = text.replace("      # - slack:", "      - slack:").replace(
        "      #           text:", "                text:").replace("      # - webhook:", "      - webhook:")
    for path in SHIPPED.glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text())
    (tmp_path / "automations.yaml").write_text(enabled)
    env = {"SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/abcdef", "HOOK_SECRET": "s3cr3t-hook"}
    heads_up = load_rules(tmp_path, env).automation("renewal-heads-up")
    assert [a.handler for a in heads_up.actions] == ["log", "slack", "webhook"]
    with pytest.raises(RuleFileError) as caught:
        load_rules(tmp_path, {})
    assert [p.split(" (")[0] for p in caught.value.problems] == [
        "automations.yaml:19: environment variable SLACK_WEBHOOK_URL is not set",
        "automations.yaml:21: environment variable HOOK_SECRET is not set"]


def test_every_problem_of_every_file_is_reported_at_once(problems_of):
    problems = problems_of({
        "stripe.yaml": "mrr:\n  currency: dollars\n",
        "a.yaml": "automations:\n  - name: one\n    on: nope\n    do: [log]\n"
                  "  - name: two\n    on: renewal_due\n    do: [log]\n",
        "b.yaml": "automations:\n  - name: three\n    on: canceled\n    do:\n      - slak: {}\n",
        "c.yaml": "automations: [\n",
    })
    assert [p.split(": ")[0] for p in problems] == [
        "a.yaml:3", "a.yaml:6", "b.yaml:5", "c.yaml:2", "stripe.yaml:2"]


def test_one_bad_automation_does_not_hide_the_next_ones_errors(problems_of):
    problems = problems_of({"automations.yaml": (
        "automations:\n"
        "  - name: bad\n    on: renewal_due\n    within: soon\n    do: [log]\n"
        "  - name: good\n    on: canceled\n    do: [log]\n"
        "  - name: worse\n    on: canceled\n    holdout: 200%\n    do: [{log: {level: loud}}]\n")})
    assert [p.split(": ", 2)[1] for p in problems] == ["automation 'bad'", "automation 'worse'",
                                                        "automation 'worse'"]


def test_valid_automation_becomes_the_typed_model(load):
    rules = load({"automations.yaml": """\
        automations:
          - name: welcome
            description: a new customer
            on: stage_changed
            from: trial
            to: [customer]
            if:
              mrr: "< 99.5"
              plan: pro
              metadata: {seats: 10, beta: true}
              metadata.region: [eu, us]
            do:
              - log: {message: "hi {{ contact.name }}"}
              - log
            goal: {kind: conversion}
        """})
    (welcome,) = rules.automations
    assert (welcome.name, welcome.on, welcome.within) == ("welcome", "stage_changed", None)
    assert (welcome.from_, welcome.to) == (("trial",), ("customer",))
    assert welcome.conditions.mrr == Comparison(op="<", value=Decimal("99.5"))
    assert welcome.conditions.plan == ("pro",)
    assert welcome.conditions.metadata == {"seats": ("10",), "beta": ("true",), "region": ("eu", "us")}
    assert welcome.conditions.stage is None
    assert [(a.handler, a.line, a.file) for a in welcome.actions] == [
        ("log", 13, "automations.yaml"), ("log", 14, "automations.yaml")]
    assert welcome.actions[0].params.message == "hi {{ contact.name }}"
    assert welcome.goal == Goal(kind="conversion", within=timedelta(days=30), to="customer")
    assert welcome.holdout == Decimal(0)
    assert (welcome.file, welcome.line, welcome.description) == ("automations.yaml", 2, "a new customer")


@pytest.mark.parametrize(("goal", "expected"), [
    ("{kind: renewal}", Goal(kind="renewal", grace=timedelta(days=3))),
    ("{kind: renewal, grace: 7 days}", Goal(kind="renewal", grace=timedelta(days=7))),
    ("{kind: retention}", Goal(kind="retention", within=timedelta(days=90))),
    ("{kind: expansion, within: 60 days}", Goal(kind="expansion", within=timedelta(days=60))),
    ("{kind: conversion, to: trial, within: 2 weeks}", Goal(kind="conversion", within=timedelta(weeks=2), to="trial")),
    ("retention", Goal(kind="retention", within=timedelta(days=90))),
])
def test_goal_defaults_follow_product_section_8(load, goal, expected):
    rules = load({"automations.yaml": f"automations:\n  - name: g\n    on: canceled\n    do: [log]\n    goal: {goal}\n"})
    assert rules.automations[0].goal == expected


def test_time_triggers_carry_their_window(load):
    body = "".join(f"  - name: {t}\n    on: {t}\n    within: 2 days\n    do: [log]\n" for t in sorted(TIME_TRIGGERS))
    body += "".join(f"  - name: {t}\n    on: {t}\n    do: [log]\n" for t in TRIGGERS if t not in TIME_TRIGGERS)
    rules = load({"automations.yaml": "automations:\n" + body})
    assert {a.on for a in rules.automations} == set(TRIGGERS)
    assert all((a.within == timedelta(days=2)) == (a.on in TIME_TRIGGERS) for a in rules.automations)


def test_on_is_a_string_key_not_a_yaml_11_boolean(load):
    rules = load({"automations.yaml": "automations:\n  - name: x\n    on: canceled\n    do: [log]\n"})
    assert rules.automations[0].on == "canceled"


def test_precedence_defaults_to_the_stages_order(load):
    rules = load({"stages.yaml": "stages:\n  a: {status: active}\n  b: {status: [canceled]}\n"})
    assert rules.stages.precedence == ["a", "b"]
    assert rules.stages.stages["a"].status == ["active"]


def test_any_file_may_hold_any_section_and_yml_is_read(load, rules_dir):
    rules = load({"stripe.yaml": None, "all.yml": "contacts: {type: user}\nmrr: {currency: EUR}\n",
                  "notes.txt": "automations: nonsense"})
    assert rules.source.contacts.type == "user" and rules.source.mrr.currency == "eur"
    assert rules.files == ("all.yml", "stages.yaml")


def test_destinations_default_to_every_trait(load):
    rules = load({"destinations.yaml": "destinations:\n  - log: {}\n  - segment: {write_key: wk_1234}\n"
                  "    traits: [stage, mrr]\n"})
    assert [(d.handler, d.traits, d.line) for d in rules.destinations] == [
        ("log", ("stage", "mrr", "renewal_date", "plan", "status"), 2), ("segment", ("stage", "mrr"), 3)]


# --- ${ENV} ------------------------------------------------------------------------------------

def test_env_references_are_substituted_with_defaults_and_escapes(load):
    rules = load({"automations.yaml": """\
        automations:
          - name: x
            on: canceled
            do:
              - log: {message: "${GREETING} ${WHO:-team} ${EMPTY:-fallback} $${LITERAL} cost ${PRICE}"}
        """}, env={"GREETING": "hello", "EMPTY": "", "PRICE": "5"})
    assert rules.automations[0].actions[0].params.message == "hello team fallback ${LITERAL} cost 5"


def test_env_values_never_appear_in_problems_and_are_registered_as_secrets(problems_of):
    secret_url = "https://hooks.slack.com/services/T0/B0/topsecretpath"
    problems = problems_of({"automations.yaml": """\
        automations:
          - name: x
            on: renewal_due
            within: "${WINDOW}"
            do:
              - webhook: {url: "${HOOK_URL}", secret: "${HOOK_SECRET}"}
              - slack: {webhook_url: "${SLACK_URL}", text: "{{ contact.name"}
        """}, env={"WINDOW": "verysecret", "HOOK_URL": "not a url hunter2", "HOOK_SECRET": "whsec_zz",
                   "SLACK_URL": secret_url})
    output = "\n".join(problems)
    for secret in ("verysecret", "hunter2", "whsec_zz", "topsecretpath"):
        assert secret not in output
    assert "within: '${WINDOW}' is not a duration" in output
    assert [p.split(":")[1] for p in problems] == ["4", "6", "7"]
    assert redact(f"posting to {secret_url}") == "posting to ***"


def test_rule_environment_reads_dotenv_under_the_process_environment(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("FROM_DOTENV=1\nBOTH=dotenv\n")
    monkeypatch.setenv("BOTH", "process")
    env = rule_environment(tmp_path / ".env")
    assert env["FROM_DOTENV"] == "1" and env["BOTH"] == "process"
    assert rule_environment(tmp_path / "missing.env") == dict(os.environ)


# --- the folder ----------------------------------------------------------------------------------

def test_missing_folder_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist") as caught:
        load_rules(tmp_path / "nope", {})
    assert caught.value.exit_code == 2


def test_a_file_instead_of_a_folder_is_a_configuration_error(tmp_path):
    (tmp_path / "rules.yaml").write_text("stages: {}\n")
    with pytest.raises(ConfigError, match="is not a folder"):
        load_rules(tmp_path / "rules.yaml", {})


def test_an_empty_folder_loads_as_defaults(tmp_path):
    rules = load_rules(tmp_path, {})
    assert (rules.files, rules.automations, rules.stages.stages) == ((), (), {})


def test_undecodable_file_is_a_problem_at_line_one(tmp_path):
    (tmp_path / "bad.yaml").write_bytes(b"stages: \xff\xfe\n")
    with pytest.raises(RuleFileError) as caught:
        load_rules(tmp_path, {})
    assert caught.value.problems == [
        "bad.yaml:1: cannot read the file (UnicodeDecodeError); make it readable UTF-8 text"]


def test_rule_file_error_counts_its_problems(rules_dir):
    folder = rules_dir({"x.yaml": "automations:\n  - name: x\n"})
    with pytest.raises(RuleFileError) as caught:
        load_rules(folder, {})
    assert len(caught.value.problems) == 2
    assert str(caught.value) == "2 problems in the rule files."
