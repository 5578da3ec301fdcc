"""Webhook delivery: each event reaches the registered endpoint over HTTP, signed so that
`stripe.Webhook.construct_event` accepts it, filtered by event type, failures logged."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import stripe

from stripe_sandbox import Sandbox


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[bytes, str]]]]:
    received: list[tuple[bytes, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((body, self.headers["Stripe-Signature"]))
            self.send_response(500 if b"customer.updated" in body else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


def test_events_are_delivered_signed_like_stripe(sandbox: Sandbox, receiver):
    url, received = receiver
    secret = sandbox.webhooks.add_endpoint(url)
    customer = sandbox.create_customer(metadata={"account_id": "acme"})
    sandbox.update_customer(customer["id"], metadata={"account_id": "globex"})
    sandbox.webhooks.flush()

    events = [stripe.Webhook.construct_event(body.decode(), header, secret) for body, header in received]
    assert [e.type for e in events] == ["customer.created", "customer.updated"]
    assert events[0].data.object.id == customer["id"]
    statuses = [(d.event_type, d.status) for d in sandbox.webhooks.deliveries]
    assert statuses == [("customer.created", 200), ("customer.updated", 500)]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(received[0][0].decode(), received[0][1], "whsec_wrong")


def test_endpoint_event_filter(sandbox: Sandbox, receiver):
    url, received = receiver
    sandbox.webhooks.add_endpoint(url, secret="whsec_x", events=("customer.subscription.*",))
    product = sandbox.create_product("P")
    price = sandbox.create_price(product["id"], unit_amount=100)
    sandbox.create_subscription(sandbox.create_customer()["id"], [{"price": price["id"]}])
    sandbox.webhooks.flush()
    assert [d.event_type for d in sandbox.webhooks.deliveries] == ["customer.subscription.created"]
    assert len(received) == 1


def test_unreachable_endpoint_is_logged_not_raised(sandbox: Sandbox):
    sandbox.webhooks.add_endpoint("http://127.0.0.1:9/unreachable", secret="whsec_x")
    sandbox.create_customer()
    sandbox.webhooks.flush()
    (delivery,) = sandbox.webhooks.deliveries
    assert delivery.status is None and delivery.error
