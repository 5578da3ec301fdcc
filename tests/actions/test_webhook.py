"""`webhook`: the exact JSON body, a Stripe-style signature, a stable Idempotency-Key."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from werkzeug import Response

from actions.base import PermanentFailure, TransientFailure
from actions.webhook import WebhookParams, handler
from tests.actions.conftest import ACCOUNT, SENT_AT

SECRET = "hook-secret-9f8e7d6c"


def _verify(header: str, raw_body: bytes, secret: str) -> int:
    """An independent receiver-side check, as a Stripe-style receiver would do it."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    expected = hmac.new(secret.encode(), f"{fields['t']}.".encode() + raw_body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, fields["v1"]), "signature does not match the raw body"
    return int(fields["t"])


def test_posts_the_exact_body_signed_with_the_send_time(httpserver, make_ctx):
    httpserver.expect_request("/hooks/renewal", method="POST").respond_with_data("ok")
    params = WebhookParams.model_validate(
        {"url": httpserver.url_for("/hooks/renewal"), "secret": SECRET,
         "headers": {"X-Contact": "{{ contact.contact_id }}"}}
    )
    result = handler.run(make_ctx(), params)

    (request, _), = httpserver.log
    raw = request.get_data()
    assert json.loads(raw) == {
        "automation": "renewal-heads-up",
        "trigger": "renewal_due",
        "occurrence": "renewal_due:acme-1:2026-12-01",
        "arm": "treated",
        "fired_at": "2026-11-02T09:30:00Z",
        "contact": ACCOUNT,
        "subscription": None,
    }
    assert _verify(request.headers["X-Lifecycle-Signature"], raw, SECRET) == int(SENT_AT.timestamp())
    assert request.headers["Idempotency-Key"] == "dlv_0001"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Contact"] == "acme-1"
    assert result.status_code == 200


def test_signature_fails_for_a_tampered_body(httpserver, make_ctx):
    httpserver.expect_request("/h").respond_with_data("ok")
    handler.run(make_ctx(), WebhookParams(url=httpserver.url_for("/h"), secret=SECRET))
    (request, _), = httpserver.log
    with pytest.raises(AssertionError):
        _verify(request.headers["X-Lifecycle-Signature"], request.get_data() + b" ", SECRET)


def test_no_signature_header_without_a_secret(httpserver, make_ctx):
    httpserver.expect_request("/h").respond_with_data("ok")
    handler.run(make_ctx(), WebhookParams(url=httpserver.url_for("/h")))
    (request, _), = httpserver.log
    assert "X-Lifecycle-Signature" not in request.headers
    assert request.headers["Idempotency-Key"] == "dlv_0001"


def test_retry_after_500_carries_the_same_idempotency_key_and_body(httpserver, make_ctx):
    httpserver.expect_oneshot_request("/h").respond_with_data("boom", status=500)
    httpserver.expect_request("/h").respond_with_data("ok")
    params = WebhookParams(url=httpserver.url_for("/h"), secret=SECRET)
    ctx = make_ctx()

    with pytest.raises(TransientFailure) as first:
        handler.run(ctx, params)
    assert first.value.status_code == 500
    handler.run(ctx, params)

    (failed, _), (succeeded, _) = httpserver.log
    assert failed.headers["Idempotency-Key"] == succeeded.headers["Idempotency-Key"] == "dlv_0001"
    assert failed.get_data() == succeeded.get_data()
    _verify(succeeded.headers["X-Lifecycle-Signature"], succeeded.get_data(), SECRET)


def test_secret_never_appears_in_a_failure_even_when_the_receiver_echoes_it(httpserver, make_ctx):
    def echo(request):
        return Response(f"bad signature, your secret is {SECRET}", status=400)

    httpserver.expect_request("/h").respond_with_handler(echo)
    with pytest.raises(PermanentFailure) as caught:
        handler.run(make_ctx(), WebhookParams(url=httpserver.url_for("/h"), secret=SECRET))
    assert "HTTP 400" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_subscription_and_internal_contact_fields(httpserver, make_ctx):
    httpserver.expect_request("/h").respond_with_data("ok")
    sub = ACCOUNT["subscriptions"][0]
    ctx = make_ctx(contact={**ACCOUNT, "_previous": {"stage": "trial"}}, subscription=sub)
    handler.run(ctx, WebhookParams(url=httpserver.url_for("/h")))
    (request, _), = httpserver.log
    body = json.loads(request.get_data())
    assert body["subscription"] == sub
    assert "_previous" not in body["contact"]
