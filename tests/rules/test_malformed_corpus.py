"""A corpus of malformed rule sets: each reports exactly these `FILE:LINE: message` lines.

Every case is the two valid base files (stripe.yaml, stages.yaml of the seed) overlaid with a
few small files; the expected list is the complete output, so a missing, extra, misplaced or
reworded problem fails the case.
"""

from __future__ import annotations

import pytest

DURATION_HINT = "write a whole number and a unit, e.g. '30 days', '12 hours', '2 weeks' or '90 minutes'"


def auto(body: str) -> dict[str, str]:
    """An automations.yaml whose first automation starts at line 2 (`- name:` on line 2)."""
    return {"automations.yaml": "automations:\n" + body}


CASES: list[tuple[str, dict[str, str | None], list[str]]] = [
    # --- YAML syntax -------------------------------------------------------------------------
    ("yaml-bad-indentation", auto("  - name: x\n    on: canceled\n  do: [log]\n"), [
        "automations.yaml:4: YAML syntax error: expected <block end>, but found '?' (while parsing a "
        "block collection); check the indentation of this line and the one before",
    ]),
    ("yaml-unquoted-comparison", auto("  - name: x\n    on: canceled\n    if: {mrr: >= 100}\n    do: [log]\n"), [
        "automations.yaml:4: YAML syntax error: found character '>' that cannot start any token (while "
        "scanning for the next token); put the value in quotes",
    ]),
    ("yaml-block-scalar-comparison", {"x.yaml": "automations:\n  - if:\n      mrr: >= 100\n"}, [
        "x.yaml:3: YAML syntax error: expected chomping or indentation indicators, but found '=' (while "
        "scanning a block scalar); put values that start with > or | in quotes, e.g. mrr: \">= 100\"",
    ]),
    ("yaml-tab-indent", {"x.yaml": "automations:\n\t- name: x\n"}, [
        "x.yaml:2: YAML syntax error: found character '\\t' that cannot start any token (while scanning "
        "for the next token); indent with spaces, not tabs",
    ]),
    ("yaml-duplicate-key", auto("  - name: x\n    on: canceled\n    on: canceled\n    do: [log]\n"), [
        "automations.yaml:4: duplicate key 'on'; each key may appear once in a mapping",
    ]),
    ("yaml-unquoted-not-equal", auto("  - name: x\n    on: canceled\n    if:\n      mrr: != 0\n    do: [log]\n"), [
        "automations.yaml:5: a value may not start with '!' unquoted (YAML reads it as a tag); put the "
        "value in quotes, e.g. \"!= 0\"",
    ]),
    ("yaml-unquoted-template", auto("  - name: x\n    on: canceled\n    do:\n      - log:\n"
                                    "          message: {{ contact.name }}\n"), [
        "automations.yaml:6: a value starting with '{' was read as a mapping; put templates in quotes, "
        "e.g. text: \"{{ contact.name }}\"",
        "automations.yaml:6: automation 'x': do: log: parameter 'message': input should be a valid string",
    ]),
    # --- top level -----------------------------------------------------------------------------
    ("top-unknown-key", {"x.yaml": "automation:\n  - name: x\n"}, [
        "x.yaml:1: unknown key 'automation' at the top of the file; did you mean 'automations'?",
    ]),
    ("top-not-a-mapping", {"x.yaml": "- name: x\n  on: canceled\n"}, [
        "x.yaml:1: expected a mapping of sections (contacts, mrr, stages, precedence, accounts, automations, "
        "destinations) at the top of the file, got a list",
    ]),
    ("top-section-twice", {"more.yaml": "precedence: [trial, customer, churn]\n"}, [
        "stages.yaml:5: 'precedence' is already defined at more.yaml:1; define it once",
    ]),
    # --- stripe.yaml -----------------------------------------------------------------------------
    ("source-unknown-key", {"stripe.yaml": "contacts:\n  typ: account\n"}, [
        "stripe.yaml:2: contacts: unknown key 'typ'; did you mean 'type'?",
    ]),
    ("source-contact-type", {"stripe.yaml": "contacts:\n  type: company\n"}, [
        "stripe.yaml:2: contacts.type: 'company' is not a contact type; write account or user",
    ]),
    ("source-create-missing-not-bool", {"stripe.yaml": "contacts:\n  create_missing: maybe\n"}, [
        "stripe.yaml:2: contacts.create_missing: expected true or false, got text",
    ]),
    ("source-preset", {"stripe.yaml": "mrr:\n  preset: baremetrics\n"}, [
        "stripe.yaml:2: mrr.preset: 'baremetrics' is not a preset; write stripe or chartmogul",
    ]),
    ("source-currency", {"stripe.yaml": "mrr:\n  currency: dollars\n"}, [
        "stripe.yaml:2: mrr.currency: 'dollars' is not a currency code; write a three-letter ISO code, e.g. usd",
    ]),
    ("source-fx-rates", {"stripe.yaml": "mrr:\n  currency: usd\n  fx_rates:\n    eur: -1.08\n    gb: 1.27\n    chf: 0\n"}, [
        "stripe.yaml:4: mrr.fx_rates.eur: expected a positive number (1 eur in the reporting currency), got -1.08",
        "stripe.yaml:5: mrr.fx_rates: 'gb' is not a currency code; write a three-letter ISO code, e.g. eur",
        "stripe.yaml:6: mrr.fx_rates.chf: expected a positive number (1 chf in the reporting currency), got 0",
    ]),
    ("source-section-not-mapping", {"stripe.yaml": "contacts: account\n"}, [
        "stripe.yaml:1: contacts: expected a mapping of settings, got text",
    ]),
    # --- stages.yaml -----------------------------------------------------------------------------
    ("stages-unknown-status", {"stages.yaml": "stages:\n  trial: {status: [trialling]}\nprecedence: [trial]\n"}, [
        "stages.yaml:2: stage 'trial': unknown subscription status 'trialling'; did you mean 'trialing'?",
    ]),
    ("stages-unknown-key", {"stages.yaml": "stages:\n  trial: {status: [trialing], colour: blue}\n"}, [
        "stages.yaml:2: stage 'trial': unknown key 'colour'; valid keys: status",
    ]),
    ("stages-shape", {"stages.yaml": "stages:\n  trial: [trialing]\n  customer: {status: [active]}\n"}, [
        "stages.yaml:2: stage 'trial': expected {status: [...]} listing subscription statuses (incomplete, "
        "incomplete_expired, trialing, active, past_due, canceled, unpaid, paused)",
    ]),
    ("precedence-unknown-stage", {"stages.yaml": "stages:\n  trial: {status: [trialing]}\n"
                                                 "  churn: {status: [canceled]}\nprecedence:\n  - trial\n  - chrn\n  - ghost\n"}, [
        "stages.yaml:4: precedence: does not list churn; list every stage once (a stage missing here is "
        "never assigned)",
        "stages.yaml:6: precedence: unknown stage 'chrn'; did you mean 'churn'?",
        "stages.yaml:7: precedence: unknown stage 'ghost'; stages are trial, churn",
    ]),
    ("precedence-twice", {"stages.yaml": "stages:\n  trial: {status: [trialing]}\nprecedence: [trial, trial]\n"}, [
        "stages.yaml:3: precedence: stage 'trial' is listed twice",
    ]),
    # --- automations: structure ------------------------------------------------------------------
    ("automations-not-a-list", {"x.yaml": "automations:\n  name: x\n"}, [
        "x.yaml:1: automations: expected a list of automations (each item starting with '- name: ...')",
    ]),
    ("automation-unknown-key", auto("  - name: x\n    on: renewal_due\n    withn: 30 days\n    do: [log]\n"), [
        "automations.yaml:3: automation 'x': on: renewal_due needs within: (how far ahead, e.g. within: 30 days)",
        "automations.yaml:4: automation 'x': unknown key 'withn'; did you mean 'within'?",
    ]),
    ("automation-missing-name-on-do", auto("  - holdout: 10%\n"), [
        "automations.yaml:2: automation #1: missing required key 'name'",
        "automations.yaml:2: automation #1: missing required key 'on' (the trigger: stage_changed, "
        "renewal_due, trial_ending, cancellation_scheduled, cancellation_unscheduled, canceled, "
        "payment_failed, past_due_for, mrr_expanded, mrr_contracted, reactivated)",
        "automations.yaml:2: automation #1: missing required key 'do' (the list of actions, e.g. do: [{log: {}}])",
    ]),
    ("automation-name-not-text", auto("  - name: [a, b]\n    on: canceled\n    do: [log]\n"), [
        "automations.yaml:2: automation #1: name: expected text, got a list",
    ]),
    ("automation-duplicate-name-across-files", {
        "a.yaml": "automations:\n  - name: welcome\n    on: canceled\n    do: [log]\n",
        "b.yaml": "automations:\n  - name: other\n    on: canceled\n    do: [log]\n"
                  "  - name: welcome\n    on: reactivated\n    do: [log]\n",
    }, [
        "b.yaml:5: automation 'welcome': duplicate automation name 'welcome' (first defined at a.yaml:2); "
        "names must be unique across all rule files",
    ]),
    # --- triggers --------------------------------------------------------------------------------
    ("trigger-unknown", auto("  - name: x\n    on: renewal_dew\n    within: 30 days\n    do: [log]\n"), [
        "automations.yaml:3: automation 'x': on: unknown trigger 'renewal_dew'; did you mean 'renewal_due'?",
    ]),
    ("trigger-not-a-name", auto("  - name: x\n    on: [canceled, reactivated]\n    do: [log]\n"), [
        "automations.yaml:3: automation 'x': on: expected one trigger name, got a list",
    ]),
    ("within-missing-past-due", auto("  - name: x\n    on: past_due_for\n    do: [log]\n"), [
        "automations.yaml:3: automation 'x': on: past_due_for needs within: (past due for at least, e.g. within: 7 days)",
    ]),
    ("within-malformed", auto("  - name: x\n    on: trial_ending\n    within: 30 dayz\n    do: [log]\n"), [
        f"automations.yaml:4: automation 'x': within: '30 dayz' is not a duration; {DURATION_HINT}",
    ]),
    ("within-no-unit", auto("  - name: x\n    on: trial_ending\n    within: 30\n    do: [log]\n"), [
        f"automations.yaml:4: automation 'x': within: '30' has no unit; {DURATION_HINT}",
    ]),
    ("within-zero", auto("  - name: x\n    on: renewal_due\n    within: 0 days\n    do: [log]\n"), [
        "automations.yaml:4: automation 'x': within: '0 days' is zero; a duration must be longer than that",
    ]),
    ("within-on-event-trigger", auto("  - name: x\n    on: canceled\n    within: 3 days\n    do: [log]\n"), [
        "automations.yaml:4: automation 'x': within: does not apply to on: canceled; only to past_due_for, "
        "renewal_due, trial_ending",
    ]),
    ("from-on-wrong-trigger", auto("  - name: x\n    on: canceled\n    from: trial\n    do: [log]\n"), [
        "automations.yaml:4: automation 'x': from: only applies to on: stage_changed (this is on: canceled)",
    ]),
    ("from-to-unknown-stages", auto("  - name: x\n    on: stage_changed\n    from: trail\n"
                                    "    to:\n      - customer\n      - chrn\n    do: [log]\n"), [
        "automations.yaml:4: automation 'x': from: unknown stage 'trail'; did you mean 'trial'?",
        "automations.yaml:7: automation 'x': to: unknown stage 'chrn'; did you mean 'churn'?",
    ]),
    # --- conditions ------------------------------------------------------------------------------
    ("if-unknown-condition", auto("  - name: x\n    on: canceled\n    if:\n      sgment: smb\n    do: [log]\n"), [
        "automations.yaml:5: automation 'x': if: unknown condition 'sgment'; conditions are stage, mrr, "
        "plan, interval, metadata and metadata.KEY",
    ]),
    ("if-unknown-stage", auto("  - name: x\n    on: canceled\n    if:\n      stage: [trial, custmer]\n    do: [log]\n"), [
        "automations.yaml:5: automation 'x': if: stage: unknown stage 'custmer'; did you mean 'customer'?",
    ]),
    ("if-mrr-bad-operator", auto("  - name: x\n    on: canceled\n    if:\n      mrr: \"=> 100\"\n    do: [log]\n"), [
        "automations.yaml:5: automation 'x': if: mrr: '=> 100' is not a comparison; write an operator "
        "(== != < <= > >=) and an amount, in quotes, e.g. \">= 100\"",
    ]),
    ("if-mrr-bare-number", auto("  - name: x\n    on: canceled\n    if:\n      mrr: 100\n    do: [log]\n"), [
        "automations.yaml:5: automation 'x': if: mrr: '100' has no operator; write an operator "
        "(== != < <= > >=) and an amount, in quotes, e.g. \">= 100\"",
    ]),
    ("if-mrr-not-a-number", auto("  - name: x\n    on: canceled\n    if:\n      mrr: \">= 1OO\"\n    do: [log]\n"), [
        "automations.yaml:5: automation 'x': if: mrr: '>= 1OO' is not a comparison; write an operator "
        "(== != < <= > >=) and an amount, in quotes, e.g. \">= 100\"",
    ]),
    ("if-metadata-mapping-value", auto("  - name: x\n    on: canceled\n    if:\n      metadata.segment: {a: b}\n    do: [log]\n"), [
        "automations.yaml:5: automation 'x': if: metadata.segment: expected a value or a list of values, got a mapping",
    ]),
    ("if-not-a-mapping", auto("  - name: x\n    on: canceled\n    if: customer\n    do: [log]\n"), [
        "automations.yaml:4: automation 'x': if: expected a mapping of conditions (stage, mrr, plan, interval, "
        "metadata, metadata.KEY), got text",
    ]),
    # --- actions ---------------------------------------------------------------------------------
    ("do-missing-list", auto("  - name: x\n    on: canceled\n    do: log\n"), [
        "automations.yaml:4: automation 'x': do: expected a list of actions, each '- HANDLER: {params}'",
    ]),
    ("do-unknown-action", auto("  - name: x\n    on: canceled\n    do:\n      - slak: {text: hi}\n"), [
        "automations.yaml:5: automation 'x': do: slak: unknown action 'slak'; did you mean 'slack'?",
    ]),
    ("do-two-handlers-in-one-item", auto("  - name: x\n    on: canceled\n    do:\n      - {log: {}, slack: {}}\n"), [
        "automations.yaml:5: automation 'x': do: each action is one handler and its parameters, e.g. "
        "'- slack: {...}'; this item has log, slack",
    ]),
    ("do-unknown-parameter", auto("  - name: x\n    on: canceled\n    do:\n      - log: {mesage: hi}\n"), [
        "automations.yaml:5: automation 'x': do: log: unknown parameter 'mesage'; did you mean 'message'?",
    ]),
    ("do-template-syntax", auto("  - name: x\n    on: canceled\n    do:\n      - log:\n"
                                "          level: info\n          message: \"{{ contact.name \"\n"), [
        "automations.yaml:7: automation 'x': do: log: parameter 'message': template syntax error: "
        "unexpected end of template, expected 'end of print statement'.",
    ]),
    ("do-multiline-flow-points-at-the-parameter", auto(
        "  - name: x\n    on: canceled\n    do:\n"
        "      - slack: {webhook_url: \"https://hooks.slack.com/services/T0/B0/abc\",\n"
        "                text: \"{{ contact.name }} renews {% if %}\"}\n"), [
        "automations.yaml:6: automation 'x': do: slack: parameter 'text': template syntax error: "
        "Expected an expression, got 'end of statement block'",
    ]),
    ("do-params-not-mapping", auto("  - name: x\n    on: canceled\n    do:\n      - log: [a]\n"), [
        "automations.yaml:5: automation 'x': do: log: parameters of 'log' must be a mapping, e.g. "
        "log: {...}; got a list",
    ]),
    ("do-webhook-malformed-url", auto("  - name: x\n    on: canceled\n    do:\n      - webhook: {url: \"not a url\"}\n"), [
        "automations.yaml:5: automation 'x': do: webhook: parameter 'url': must be an http:// or https:// "
        "URL with a host",
    ]),
    ("do-slack-missing-parameter", auto("  - name: x\n    on: canceled\n    do:\n      - slack: {text: hi}\n"), [
        "automations.yaml:5: automation 'x': do: slack: missing required parameter 'webhook_url'",
    ]),
    ("do-log-level-not-allowed", auto("  - name: x\n    on: canceled\n    do:\n      - log: {level: loud}\n"), [
        "automations.yaml:5: automation 'x': do: log: parameter 'level': input should be 'info' or 'warning'",
    ]),
    ("do-nested-parameter-line", auto("  - name: x\n    on: canceled\n    do:\n      - webhook:\n"
                                      "          url: https://ops.example.com/hook\n"
                                      "          headers:\n            Idempotency-Key: mine\n"), [
        "automations.yaml:8: automation 'x': do: webhook: parameter 'headers': header Idempotency-Key is set "
        "by the webhook action itself",
    ]),
    # --- goal and holdout ------------------------------------------------------------------------
    ("goal-unknown-kind", auto("  - name: x\n    on: canceled\n    do: [log]\n    goal: {kind: renewl}\n"), [
        "automations.yaml:5: automation 'x': goal: unknown kind 'renewl'; did you mean 'renewal'?",
    ]),
    ("goal-key-of-other-kind", auto("  - name: x\n    on: canceled\n    do: [log]\n    goal:\n"
                                    "      kind: renewal\n      within: 30 days\n"), [
        "automations.yaml:7: automation 'x': goal: 'within' does not apply to kind renewal; 'within' is "
        "for goal kind retention, expansion, conversion",
    ]),
    ("goal-conversion-unknown-stage", auto("  - name: x\n    on: canceled\n    do: [log]\n"
                                           "    goal: {kind: conversion, to: custmer, within: 3 dayz}\n"), [
        f"automations.yaml:5: automation 'x': goal: within: '3 dayz' is not a duration; {DURATION_HINT}",
        "automations.yaml:5: automation 'x': goal: to: unknown stage 'custmer'; did you mean 'customer'?",
    ]),
    ("goal-conversion-default-stage-missing", {
        "stages.yaml": "stages:\n  trial: {status: [trialing]}\n  paying: {status: [active]}\n",
        "automations.yaml": "automations:\n  - name: x\n    on: canceled\n    do: [log]\n    goal: conversion\n"}, [
        "automations.yaml:5: automation 'x': goal: conversion defaults to stage 'customer', which is not "
        "defined; name the target stage with to:",
    ]),
    ("holdout-over-100", auto("  - name: x\n    on: canceled\n    do: [log]\n    holdout: 110%\n"), [
        "automations.yaml:5: automation 'x': holdout: '110%' is outside 0% to 100%",
    ]),
    ("holdout-without-percent", auto("  - name: x\n    on: canceled\n    do: [log]\n    holdout: 0.1\n"), [
        "automations.yaml:5: automation 'x': holdout: '0.1' has no '%' sign; write a percentage from 0% "
        "to 100%, e.g. '10%'",
    ]),
    ("holdout-malformed", auto("  - name: x\n    on: canceled\n    do: [log]\n    holdout: ten%\n"), [
        "automations.yaml:5: automation 'x': holdout: 'ten%' is not a percentage; write a percentage from "
        "0% to 100%, e.g. '10%'",
    ]),
    # --- environment -----------------------------------------------------------------------------
    ("env-unset", auto("  - name: x\n    on: canceled\n    do:\n      - log: {message: \"${GREETING}\"}\n"), [
        "automations.yaml:5: environment variable GREETING is not set (referenced as ${GREETING}); set it, "
        "or write ${GREETING:-default} to give a default",
    ]),
    ("env-bad-reference", auto("  - name: x\n    on: canceled\n    do:\n      - log: {message: \"${1X}\"}\n"), [
        "automations.yaml:5: '${1X}' is not a valid reference; write ${NAME} or ${NAME:-default} with a "
        "variable name of letters, digits and _",
    ]),
    # --- destinations ----------------------------------------------------------------------------
    ("destination-unknown-trait", {"destinations.yaml": "destinations:\n  - log: {}\n    traits: [stage, arr]\n"}, [
        "destinations.yaml:3: destination #1 (log): traits: unknown trait 'arr'; did you mean 'mrr'?",
    ]),
    ("destination-no-handler", {"destinations.yaml": "destinations:\n  - traits: [stage]\n"}, [
        "destinations.yaml:2: destination #1: expected one handler and its parameters, e.g. '- segment: "
        "{write_key: ...}' (with optional traits: [...]); got handlers: none",
    ]),
    ("destination-unknown-handler", {"destinations.yaml": "destinations:\n  - segmnt: {write_key: abcd}\n"}, [
        "destinations.yaml:2: destination #1 (segmnt): unknown action 'segmnt'; did you mean 'segment'?",
    ]),
    ("destination-empty-secret", {"destinations.yaml": "destinations:\n  - segment:\n      write_key: \"\"\n"}, [
        "destinations.yaml:3: destination #1 (segment): parameter 'write_key': must not be empty",
    ]),
    ("destination-unknown-parameter", {"destinations.yaml": "destinations:\n  - segment: {write_key: abcd, wrte: 1}\n"}, [
        "destinations.yaml:2: destination #1 (segment): unknown parameter 'wrte'; did you mean 'write_key'?",
    ]),
]


@pytest.mark.parametrize(("files", "expected"), [pytest.param(f, e, id=i) for i, f, e in CASES])
def test_malformed_rule_set_reports_exactly_these_problems(problems_of, files, expected):
    assert problems_of(files) == expected


def test_corpus_has_at_least_thirty_distinct_cases():
    assert len({case_id for case_id, _, _ in CASES}) == len(CASES) >= 30
