"""Fixtures for the sync tests: the project's Stripe sandbox, localstripe, mirror snapshots."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from worker.store.models import (
    Contact,
    StripeCustomer,
    StripePrice,
    StripeProduct,
    StripeSubscription,
    SubscriptionItem,
)
from worker.stripe_api.transport import StripeApi

LOCALSTRIPE_KEY = "sk_test_localstripe"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def localstripe(tmp_path: Path) -> Iterator[str]:
    """A fresh localstripe server; its base URL.

    localstripe pickles its state to a fixed /tmp path shared by every instance (not $TMPDIR):
    `--from-scratch` makes this one ignore that file and keep its own state in memory.
    """
    port = free_port()
    exe = Path(sys.executable).parent / "localstripe"
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen([str(exe), "--port", str(port), "--from-scratch"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{base}/v1/customers", auth=(LOCALSTRIPE_KEY, ""), timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("localstripe did not start") from None
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


SANDBOX_KEY = "sk_test_sync_sandbox"
SANDBOX_START = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def sandbox():
    """A started Stripe sandbox holding a generated account: 300 customers, 12+-item subscriptions."""
    from stripe_sandbox import Sandbox, generate_account

    sb = Sandbox(api_key=SANDBOX_KEY, start=SANDBOX_START, seed=7)
    generate_account(sb, customers=300, seed=7, many_items_every=100)
    with sb:
        yield sb


def api_for(sb, **kwargs) -> StripeApi:
    kwargs.setdefault("max_rps", 1000)
    return StripeApi.connect(sb.api_key, sb.url, **kwargs)


MIRROR = (Contact, StripeCustomer, StripeSubscription, SubscriptionItem, StripePrice, StripeProduct)


def mirror_state(store, *, ignore: tuple[str, ...] = (), models: tuple = MIRROR) -> dict:
    """Everything the mirror holds, except when each row was last seen or written (synced_at,
    written_at: the times of the syncs that did it, which differ between runs)."""
    skip = ("synced_at", "written_at", "created_at", "updated_at", *ignore)
    state = {}
    with store.session() as session:
        for model in models:
            rows = session.execute(select(model.__table__)).mappings().all()
            state[model.__tablename__] = {
                row["id"]: {k: v for k, v in row.items() if k not in skip}
                for row in rows if not row.get("deleted")
            }
    return state
