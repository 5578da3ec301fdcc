"""Attacks on the webhook receiver of the real `stripe-lifecycle web` process (uvicorn, its own
process, embedded mode: a genuine event re-fetches the object from the Stripe sandbox inline
and stores it). Every attack — bad signatures, replayed or stale timestamps, oversized,
malformed and wrong-content bodies — is answered 400 and nothing reaches the database; the
last test sends the genuine event and sees it stored, so "nothing stored" could have failed.

The app-level cases (against the Starlette routes in-process) are in tests/sync/test_webhook.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from stripe_sandbox import Sandbox
from tests.conftest import clean_env, wait_until_healthy
from tests.reliability.plugin import record_output
from worker.store.db import open_store
from worker.store.models import (
    Quarantine,
    StripeCustomer,
    StripePrice,
    StripeProduct,
    StripeSubscription,
)

pytestmark = [pytest.mark.reliability, pytest.mark.slow]
SECRET = "whsec_attackReceiverSecret0123456789"
KEY = "sk_test_attackReceiverKey0123456789"
RULES = Path(__file__).resolve().parents[2] / "rules"
MB = 1_000_000


def sign(body: bytes, t: int | None = None, secret: str = SECRET, scheme: str = "v1") -> dict[str, str]:
    t = int(time.time()) if t is None else t
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={t},{scheme}={mac}", "Content-Type": "application/json"}


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Receiver:
    """The `web` process, the sandbox it re-fetches from, and what its database holds."""

    def __init__(self, base: str, db_url: str, event: dict):
        self.base, self.db_url, self.event = base, db_url, event
        self.body = json.dumps(event).encode()

    def post(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return httpx.post(f"{self.base}/stripe/webhook", content=body, headers=headers, timeout=30)

    def stored_rows(self) -> int:
        store = open_store(self.db_url)
        try:
            with store.session() as s:
                return sum(s.scalar(select(func.count()).select_from(m)) for m in
                           (StripeCustomer, StripeSubscription, StripePrice, StripeProduct, Quarantine))
        finally:
            store.engine.dispose()


@pytest.fixture(scope="module")
def receiver(tmp_path_factory):
    folder = tmp_path_factory.mktemp("webhook-attacks")
    sb = Sandbox(api_key=KEY, start=datetime(2026, 11, 1, tzinfo=UTC))
    product = sb.create_product("Pro")
    price = sb.create_price(product["id"], "usd", unit_amount=9900)
    customer = sb.create_customer(name="Acme", metadata={"account_id": "acme"})
    sb.create_subscription(customer["id"], [{"price": price["id"], "quantity": 1}])
    event = sb.events("customer.subscription.created")[-1]
    port, db_url = _port(), f"sqlite:///{folder / 'lc.db'}"
    log = folder / "web.log"
    with sb, open(log, "wb") as out:
        env = clean_env(STRIPE_API_KEY=KEY, STRIPE_API_BASE=sb.url, STRIPE_WEBHOOK_SECRET=SECRET,
                        DATABASE_URL=db_url, RULES_DIR=str(RULES), WEB_PORT=str(port), CONSOLE_PORT=str(_port()))
        proc = subprocess.Popen([sys.executable, "-m", "worker.cli.main", "web"], env=env, cwd=folder,
                                stdout=out, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_healthy(base, proc, context=log.read_text)
            yield Receiver(base, db_url, event)
        finally:
            proc.terminate()
            proc.wait(20)
            record_output("web", log.read_bytes())


def _attack(receiver: Receiver, body: bytes, headers: dict[str, str]) -> None:
    response = receiver.post(body, headers)
    assert response.status_code == 400, response.text
    assert SECRET not in response.text and KEY not in response.text
    assert receiver.stored_rows() == 0


def _stale(r: Receiver) -> tuple[bytes, dict]:
    return r.body, sign(r.body, int(time.time()) - 600)


def _future(r: Receiver) -> tuple[bytes, dict]:
    return r.body, sign(r.body, int(time.time()) + 600)


def _replayed_signature_new_timestamp(r: Receiver) -> tuple[bytes, dict]:
    old = sign(r.body, int(time.time()) - 600)["Stripe-Signature"].split(",")[1]
    return r.body, {"Stripe-Signature": f"t={int(time.time())},{old}"}


SIGNATURES = {
    "wrong secret": lambda r: (r.body, sign(r.body, secret="whsec_someoneElse0123")),
    "tampered body": lambda r: (r.body.replace(b"Acme", b"Evil") + b" ", sign(r.body)),
    "no header": lambda r: (r.body, {"Content-Type": "application/json"}),
    "garbage header": lambda r: (r.body, {"Stripe-Signature": "t=abc,v1=zz"}),
    "v0 scheme only": lambda r: (r.body, sign(r.body, scheme="v0")),
    "empty secret": lambda r: (r.body, sign(r.body, secret="")),
    "replayed 10 minutes later": _stale,
    "timestamp 10 minutes ahead": _future,
    "captured signature with a fresh timestamp": _replayed_signature_new_timestamp,
}


@pytest.mark.parametrize("case", list(SIGNATURES))
def test_a_forged_stale_or_replayed_signature_is_400_and_stores_nothing(receiver, case):
    _attack(receiver, *SIGNATURES[case](receiver))


BODIES = {
    "not JSON": b"{not json",
    "empty": b"",
    "invalid UTF-8": b"\xff\xfe\x00{",
    "a JSON array": b"[1, 2]",
    "NaN": b"NaN",
    "nested 100,000 deep": b"[" * 100_000 + b"]" * 100_000,
    "event without data.object": b'{"type": "customer.subscription.updated", "data": {}}',
    "object is a list": b'{"type": "customer.subscription.updated", "data": {"object": [1]}}',
    "type is a number": b'{"type": 7, "data": {"object": {"id": "sub_1"}}}',
    "form-encoded": b"type=customer.subscription.updated&data[object][id]=sub_1",
    "object id with a path": b'{"type": "customer.subscription.updated", "data": {"object": {"id": "sub_1/../../v1/customers"}}}',
}


@pytest.mark.parametrize("case", list(BODIES))
def test_a_signed_malformed_or_wrong_content_body_is_400_and_stores_nothing(receiver, case):
    _attack(receiver, BODIES[case], sign(BODIES[case]))


def test_a_signed_oversized_body_is_400_and_stores_nothing(receiver):
    padded = dict(receiver.event, padding="x" * (2 * MB))
    body = json.dumps(padded).encode()
    _attack(receiver, body, sign(body))


def _raw_post(port: int, length_header: str, body_chunks: list[bytes]) -> bytes:
    """Send a request head and some body, never finishing it; return what the server answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall((f"POST /stripe/webhook HTTP/1.1\r\nHost: x\r\n{length_header}\r\n"
                      "Content-Type: application/json\r\n\r\n").encode())
        for chunk in body_chunks:
            sock.sendall(chunk)
        answer = b""
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
        return answer


def test_a_body_that_would_never_end_is_refused_before_it_is_read(receiver):
    """A declared 1 GB body is refused from its Content-Length before any of it is sent; a
    chunked body that never ends is refused once it passes the limit. (A receiver that
    buffered the whole body first would wait for the rest and never answer.)"""
    port = int(receiver.base.rsplit(":", 1)[1])
    declared = _raw_post(port, f"Content-Length: {1000 * MB}", [])
    assert declared.startswith(b"HTTP/1.1 400"), declared[:200]
    piece = b"x" * 65536
    chunked = _raw_post(port, "Transfer-Encoding: chunked",
                        [f"{len(piece):x}\r\n".encode() + piece + b"\r\n"] * (MB // len(piece) + 1))
    assert chunked.startswith(b"HTTP/1.1 400"), chunked[:200]
    assert receiver.stored_rows() == 0


def test_the_genuine_event_is_stored_so_the_checks_above_could_fail(receiver):
    response = receiver.post(receiver.body, sign(receiver.body))
    assert response.status_code == 200, response.text
    assert receiver.stored_rows() > 0
