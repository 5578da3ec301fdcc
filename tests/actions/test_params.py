"""Params are validated when rules load: clear messages, unknown fields refused, no secret echoed."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from actions.base import ActionParams
from actions.registry import HANDLERS, get_handler, handler_names

SECRET = "s3cr3t-value-0a9b8c"


def _errors(action: str, raw: dict) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        get_handler(action).Params.model_validate(raw)
    assert SECRET not in str(caught.value)
    return [(".".join(map(str, e["loc"])), e["msg"]) for e in caught.value.errors()]


def test_registry_lists_every_handler_by_its_own_name():
    assert handler_names() == ["email", "hubspot", "log", "segment", "slack", "webhook"]
    for name, handler in HANDLERS.items():
        assert handler.name == name
        assert issubclass(handler.Params, ActionParams)
        assert handler.Params.model_config["extra"] == "forbid"
    assert get_handler("fax") is None


@pytest.mark.parametrize(
    "action, raw, field, fragment",
    [
        ("webhook", {"url": f"ftp://example.com/{SECRET}"}, "url", "http:// or https://"),
        ("webhook", {"url": f"example.com/{SECRET}"}, "url", "http:// or https://"),
        ("webhook", {"url": "https://example.com/{{ contact.id }}"}, "url", "templates are not allowed"),
        ("webhook", {}, "url", "Field required"),
        ("webhook", {"url": "https://example.com", "secret": SECRET, "sign": True}, "sign", "Extra inputs"),
        ("webhook", {"url": "https://example.com", "headers": {"Idempotency-Key": SECRET}}, "headers",
         "set by the webhook action"),
        ("webhook", {"url": "https://example.com", "headers": {"X-A": "{{ contact.name }"}}, "headers.X-A",
         "template syntax error"),
        ("slack", {"webhook_url": f"hooks.slack.com/services/{SECRET}", "text": "hi"}, "webhook_url", "http://"),
        ("slack", {"webhook_url": "https://hooks.slack.com/x"}, "text", "Field required"),
        ("slack", {"webhook_url": "https://hooks.slack.com/x", "text": "  "}, "text", "must not be empty"),
        ("slack", {"webhook_url": "https://hooks.slack.com/x", "text": "hi", "blocks": [{"text": "{% if %}"}]},
         "blocks", "in blocks: template syntax error"),
        ("email", {"to": "not-an-address", "subject": "s", "text": "t"}, "to", "email address"),
        ("email", {"to": "a@example.com, nope", "subject": "s", "text": "t"}, "to", "email address"),
        ("email", {"to": "a@example.com", "text": "t"}, "subject", "Field required"),
        ("email", {"to": "a@example.com", "subject": "{{ x", "text": "t"}, "subject", "template syntax error"),
        ("email", {"to": "a@example.com", "subject": "s", "text": "t", "from": "nobody"}, "from", "email address"),
        ("email", {"to": "a@example.com", "subject": "s", "text": "t", "cc": "b@example.com"}, "cc", "Extra inputs"),
        ("hubspot", {}, "token", "Field required"),
        ("hubspot", {"token": SECRET, "base_url": "api.hubapi.com"}, "base_url", "http://"),
        ("hubspot", {"token": SECRET, "object_type": "deals"}, "object_type", "'companies'"),
        ("hubspot", {"token": SECRET, "properties": {"arr": "x"}}, "properties.arr", "Extra inputs"),
        ("segment", {"write_key": SECRET, "traits": ["stage", "favourite_colour"]}, "traits.1", "'stage'"),
        ("segment", {"write_key": SECRET, "call": "track"}, "call", "'identify'"),
        ("segment", {"write_key": "  "}, "write_key", "must not be empty"),
        ("log", {"message": "{{ contact.name }"}, "message", "template syntax error"),
        ("log", {"level": "debug"}, "level", "'info'"),
    ],
)
def test_invalid_params_name_the_field_and_the_problem(action, raw, field, fragment):
    errors = _errors(action, raw)
    matching = [msg for loc, msg in errors if loc == field]
    assert matching, f"no error for {field}: {errors}"
    assert any(fragment in msg for msg in matching), matching


@pytest.mark.parametrize(
    "action, raw",
    [
        ("webhook", {"url": "https://ops.example.com/hooks/renewal", "secret": SECRET, "headers": {"X-Team": "cs"}}),
        ("slack", {"webhook_url": "https://hooks.slack.com/services/T/B/x", "text": "{{ contact.name }}"}),
        ("email", {"to": "{{ contact.email }}", "subject": "Hi", "text": "t", "html": "<p>t</p>",
                   "from": "Lifecycle <lifecycle@ops.example>"}),
        ("email", {"to": "a@example.com, B <b@example.org>", "subject": "Hi", "text": "t"}),
        ("hubspot", {"token": SECRET, "properties": {"stage": "lifecyclestage", "renewal_date": None}}),
        ("segment", {"write_key": SECRET, "traits": ["stage", "mrr"], "call": "identify"}),
        ("log", {}),
    ],
)
def test_valid_params_load(action, raw):
    params = get_handler(action).Params.model_validate(raw)
    assert SECRET not in repr(params)


def test_params_are_immutable():
    params = get_handler("log").Params.model_validate({"message": "x"})
    with pytest.raises(ValidationError):
        params.message = "y"
