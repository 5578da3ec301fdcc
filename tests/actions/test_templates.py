"""Action templates: strict, sandboxed rendering; syntax checks for the rule loader."""

from __future__ import annotations

import pytest

from actions.base import PermanentFailure
from actions.templates import check_template, make_renderer, render_param, render_tree

CONTEXT = {
    "contact": {"contact_id": "acme-1", "name": "Acme", "mrr": {"amount_minor": 15000, "currency": "usd"}},
    "subscription": None,
    "automation": "renewal-heads-up",
    "trigger": "renewal_due",
}


def test_renders_contact_fields_and_money_filter():
    render = make_renderer(CONTEXT)
    assert render("{{ contact.name }} ({{ contact.mrr | money }}) via {{ automation }}") == (
        "Acme (150.00 USD) via renewal-heads-up"
    )


def test_money_filter_keeps_zero_decimal_currencies_whole():
    render = make_renderer({"contact": {"mrr": {"amount_minor": 5000, "currency": "jpy"}}})
    assert render("{{ contact.mrr | money }}") == "5000 JPY"


def test_plain_text_is_returned_untouched():
    assert make_renderer(CONTEXT)("no markup, {curly} braces") == "no markup, {curly} braces"


def test_unknown_variable_is_a_permanent_failure_naming_the_param():
    render = make_renderer(CONTEXT)
    with pytest.raises(PermanentFailure) as caught:
        render_param(render, "subject", "Hi {{ contact.nickname }}")
    assert "`subject`" in str(caught.value)
    assert "nickname" in str(caught.value)
    assert not caught.value.retryable


def test_sandbox_blocks_python_internals():
    render = make_renderer(CONTEXT)
    with pytest.raises(PermanentFailure):
        render("{{ contact.__class__.__mro__[1].__subclasses__() }}")


def test_no_html_autoescaping():
    render = make_renderer({"contact": {"name": "A & B <co>"}})
    assert render("{{ contact.name }}") == "A & B <co>"


@pytest.mark.parametrize(
    "text, problem",
    [
        ("{{ contact.name }", "syntax error"),
        ("{% if x %}open", "syntax error"),
        ("line one\n{{ }}", "template line 2"),
    ],
)
def test_check_template_reports_syntax_errors(text, problem):
    message = check_template(text)
    assert message is not None and problem in message


@pytest.mark.parametrize("text", ["plain", "{{ contact.name | upper }}", "{% if contact.stage %}x{% endif %}"])
def test_check_template_accepts_valid_templates(text):
    assert check_template(text) is None


def test_render_tree_renders_nested_strings_only():
    render = make_renderer(CONTEXT)
    tree = {"type": "section", "text": {"type": "mrkdwn", "text": "*{{ contact.name }}*"}, "n": 3}
    assert render_tree(render, "blocks", [tree]) == [
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Acme*"}, "n": 3}
    ]
