"""`slack`: rendered text and blocks posted to the incoming webhook; its URL never leaks."""

from __future__ import annotations

import json

import pytest

from actions.base import PermanentFailure
from actions.slack import SlackParams, handler

PATH = "/services/T000/B000/XyZsecretTokenPart"


def test_posts_rendered_text_and_blocks(httpserver, make_ctx):
    httpserver.expect_request(PATH, method="POST").respond_with_data("ok")
    params = SlackParams.model_validate({
        "webhook_url": httpserver.url_for(PATH),
        "text": "{{ contact.name }} renews {{ contact.renewal_date }} ({{ contact.mrr | money }})",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*{{ contact.name }}* is {{ contact.stage }}"}}],
    })
    handler.run(make_ctx(), params)
    (request, _), = httpserver.log
    assert json.loads(request.get_data()) == {
        "text": "Acme renews 2026-12-01T00:00:00Z (150.00 USD)",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*Acme* is customer"}}],
    }
    assert request.headers["Content-Type"] == "application/json"


def test_archived_channel_is_permanent_and_hides_the_webhook_url(httpserver, make_ctx):
    httpserver.expect_request(PATH).respond_with_data(f"channel_is_archived {PATH}", status=410)
    with pytest.raises(PermanentFailure) as caught:
        handler.run(make_ctx(), SlackParams(webhook_url=httpserver.url_for(PATH), text="hi"))
    assert "HTTP 410" in str(caught.value)
    assert "XyZsecretTokenPart" not in str(caught.value)


def test_params_repr_hides_the_webhook_url():
    params = SlackParams(webhook_url="https://hooks.slack.com" + PATH, text="hi")
    assert "XyZsecretTokenPart" not in repr(params)
