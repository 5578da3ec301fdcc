"""`segment`: identify/group with traits, write key as basic-auth user, messageId = idempotency key."""

from __future__ import annotations

import base64
import json

import pytest

from actions.base import PermanentFailure
from actions.segment import SegmentParams, handler
from tests.actions.conftest import USER

WRITE_KEY = "wk_8d7c6b5a4f3e"


def _basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def test_account_is_a_group_call_with_traits(httpserver, make_ctx):
    httpserver.expect_request("/v1/group", method="POST").respond_with_json({"success": True})
    params = SegmentParams.model_validate({"write_key": WRITE_KEY, "base_url": httpserver.url_for("/v1")})
    handler.run(make_ctx(), params)
    (request, _), = httpserver.log
    assert request.headers["Authorization"] == _basic(WRITE_KEY)
    body = json.loads(request.get_data())
    assert body["messageId"] == "dlv_0001"
    assert body["groupId"] == "acme-1"
    assert body["anonymousId"] == "stripe-lifecycle:acme-1"
    assert body["timestamp"] == "2026-11-02T09:30:00Z"
    assert body["traits"] == {"stage": "customer", "mrr": 150.0, "renewal_date": "2026-12-01T00:00:00Z",
                              "plan": None, "status": "active"}


def test_user_is_an_identify_call(httpserver, make_ctx):
    httpserver.expect_request("/v1/identify").respond_with_json({"success": True})
    params = SegmentParams(write_key=WRITE_KEY, base_url=httpserver.url_for("/v1"), traits=["stage", "email"])
    handler.run(make_ctx(contact=USER), params)
    (request, _), = httpserver.log
    body = json.loads(request.get_data())
    assert body["userId"] == "u-7"
    assert body["traits"] == {"stage": "customer", "email": "ada@acme.example"}
    assert body["messageId"] == "dlv_0001"


def test_plan_comes_from_the_firing_subscription(httpserver, make_ctx):
    httpserver.expect_request("/v1/group").respond_with_json({"success": True})
    sub = {"id": "sub_9", "status": "trialing", "plans": ["price_pro", "pro"]}
    handler.run(make_ctx(subscription=sub), SegmentParams(write_key=WRITE_KEY, base_url=httpserver.url_for("/v1")))
    (request, _), = httpserver.log
    traits = json.loads(request.get_data())["traits"]
    assert traits["plan"] == "price_pro" and traits["status"] == "trialing"


def test_bad_write_key_is_permanent_and_not_echoed(httpserver, make_ctx):
    httpserver.expect_request("/v1/group").respond_with_data(f"invalid write key {WRITE_KEY}", status=401)
    with pytest.raises(PermanentFailure) as caught:
        handler.run(make_ctx(), SegmentParams(write_key=WRITE_KEY, base_url=httpserver.url_for("/v1")))
    assert "HTTP 401" in str(caught.value) and WRITE_KEY not in str(caught.value)
