"""The embedded `run` process end to end: its web server takes a signed Stripe webhook, its
worker threads re-fetch the object from the Stripe sandbox and store it; a bad signature is
refused with 400 and stores nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from stripe_sandbox import Sandbox
from tests.conftest import clean_env, wait_until_healthy
from worker.store.db import open_store
from worker.store.models import StripeSubscription, SyncState

pytestmark = pytest.mark.slow
SECRET = "whsec_testsecret0123456789"
RULES = Path(__file__).resolve().parents[2] / "rules"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    t = int(time.time())
    v1 = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={t},v1={v1}", "Content-Type": "application/json"}


def _stored(db_url: str, sub_id: str) -> StripeSubscription | None:
    store = open_store(db_url)
    try:
        with store.session() as s:
            return s.scalar(select(StripeSubscription).where(StripeSubscription.id == sub_id))
    finally:
        store.engine.dispose()


def _synced(db_url: str) -> bool:
    store = open_store(db_url)
    try:
        with store.session() as s:
            return s.get(SyncState, "last_sync") is not None
    finally:
        store.engine.dispose()


def test_run_receives_a_signed_webhook_and_refetches_the_object(tmp_path):
    sb = Sandbox(api_key="sk_test_sandbox", start=datetime(2026, 11, 1, tzinfo=timezone.utc))
    product = sb.create_product("Pro")
    price = sb.create_price(product["id"], "usd", unit_amount=9900)
    customer = sb.create_customer(name="Acme", metadata={"account_id": "acme"})
    port, db_url = _port(), f"sqlite:///{tmp_path / 'lc.db'}"
    with sb:
        env = clean_env(STRIPE_API_KEY=sb.api_key, STRIPE_API_BASE=sb.url, STRIPE_WEBHOOK_SECRET=SECRET,
                        DATABASE_URL=db_url, RULES_DIR=str(RULES), WEB_PORT=str(port),
                        SYNC_EVERY="86400", RECONCILE_EVERY="86400", EVALUATE_EVERY="86400")
        proc = subprocess.Popen([sys.executable, "-m", "worker.cli.main", "run"], env=env, cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_healthy(base, proc, context=lambda: "")
            # The scheduler syncs at once when it starts; the subscription appears after that
            # sync, so only the webhook can bring it in before the next (a day away).
            deadline = time.monotonic() + 30
            while not _synced(db_url) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert _synced(db_url), "the first sync did not run at start"
            sub = sb.create_subscription(customer["id"], [{"price": price["id"], "quantity": 2}])
            event = sb.events("customer.subscription.created")[-1]
            body = json.dumps(event).encode()
            forged = httpx.post(f"{base}/stripe/webhook", content=body, headers=_signed(body, "whsec_wrong"))
            assert forged.status_code == 400
            assert _stored(db_url, sub["id"]) is None
            accepted = httpx.post(f"{base}/stripe/webhook", content=body, headers=_signed(body))
            assert accepted.status_code == 200
            deadline = time.monotonic() + 30
            while (row := _stored(db_url, sub["id"])) is None and time.monotonic() < deadline:
                time.sleep(0.2)
            assert row is not None, "the webhook's object was never re-fetched"
            assert row.status == "active" and row.customer_id == customer["id"]
            assert row.raw["items"]["data"][0]["quantity"] == 2
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-2000:]
    assert SECRET not in err and sb.api_key not in err
