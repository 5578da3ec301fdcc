"""POST /stripe/webhook: only genuine, fresh, well-formed Stripe events enqueue a re-fetch."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import stripe
from starlette.applications import Starlette
from starlette.testclient import TestClient

from worker.settings import load_settings
from worker.web.webhook import webhook_routes

SECRET = "whsec_test_secret_value"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
EVENT = {"id": "evt_1", "object": "event", "type": "customer.subscription.updated", "created": 1,
         "api_version": "2024-06-20",
         "data": {"object": {"id": "sub_42", "object": "subscription", "plan": {"id": "old"}}}}


def sign(body: bytes, at: datetime, secret: str = SECRET) -> str:
    t = int(at.timestamp())
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


@pytest.fixture
def receiver():
    queued: list[tuple[str, str]] = []
    settings = load_settings(stripe_webhook_secret=SECRET)
    app = Starlette(routes=webhook_routes(settings, lambda t, i, event_id=None: queued.append((t, i)), lambda: NOW))
    return TestClient(app), queued


def test_a_signed_event_enqueues_a_refetch_of_its_object(receiver):
    client, queued = receiver
    body = json.dumps(EVENT).encode()
    response = client.post("/stripe/webhook", content=body, headers={"Stripe-Signature": sign(body, NOW)})
    assert response.status_code == 200
    assert queued == [("subscription", "sub_42")]


def test_our_verification_accepts_what_the_stripe_sdk_signs():
    body = json.dumps(EVENT).encode()
    header = stripe.WebhookSignature._compute_signature(f"{int(time.time())}.{body.decode()}", SECRET)
    now = datetime.now(UTC)
    queued: list = []
    app = Starlette(routes=webhook_routes(load_settings(stripe_webhook_secret=SECRET),
                                          lambda t, i, event_id=None: queued.append((t, i, event_id)), lambda: now))
    response = TestClient(app).post("/stripe/webhook", content=body,
                                    headers={"Stripe-Signature": f"t={int(now.timestamp())},v1={header}"})
    assert response.status_code == 200 and queued == [("subscription", "sub_42", EVENT["id"])]


@pytest.mark.parametrize("case", ["wrong secret", "tampered body", "no header", "garbage header"])
def test_a_bad_signature_is_400_and_enqueues_nothing(receiver, case):
    client, queued = receiver
    body = json.dumps(EVENT).encode()
    headers = {
        "wrong secret": {"Stripe-Signature": sign(body, NOW, "whsec_other")},
        "tampered body": {"Stripe-Signature": sign(body.replace(b"sub_42", b"sub_43"), NOW)},
        "no header": {},
        "garbage header": {"Stripe-Signature": "nonsense"},
    }[case]
    response = client.post("/stripe/webhook", content=body, headers=headers)
    assert response.status_code == 400
    assert queued == []
    assert SECRET not in response.text


def test_a_stale_timestamp_is_400_and_enqueues_nothing(receiver):
    client, queued = receiver
    body = json.dumps(EVENT).encode()
    stale = sign(body, NOW - timedelta(seconds=301))
    fresh_enough = sign(body, NOW - timedelta(seconds=299))
    assert client.post("/stripe/webhook", content=body, headers={"Stripe-Signature": stale}).status_code == 400
    assert queued == []
    assert client.post("/stripe/webhook", content=body, headers={"Stripe-Signature": fresh_enough}).status_code == 200


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"type": "customer.updated"}', b"\xff\xfe"])
def test_a_malformed_body_is_400_and_enqueues_nothing(receiver, body):
    client, queued = receiver
    response = client.post("/stripe/webhook", content=body, headers={"Stripe-Signature": sign(body, NOW)})
    assert response.status_code == 400
    assert queued == []


def test_events_the_mirror_does_not_follow_are_acknowledged_without_work(receiver):
    client, queued = receiver
    body = json.dumps({**EVENT, "type": "charge.succeeded", "data": {"object": {"id": "ch_1"}}}).encode()
    response = client.post("/stripe/webhook", content=body, headers={"Stripe-Signature": sign(body, NOW)})
    assert response.status_code == 200 and queued == []


def test_without_a_webhook_secret_the_receiver_is_off():
    assert webhook_routes(load_settings(stripe_webhook_secret=None), lambda t, i: None, lambda: NOW) == []
