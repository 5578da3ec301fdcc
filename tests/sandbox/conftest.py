"""Fixtures for the sandbox tests: a started sandbox and a real `stripe` SDK client on it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import stripe

from stripe_sandbox import Sandbox

START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(api_key="sk_test_sandbox", start=START) as sb:
        yield sb


@pytest.fixture
def client(sandbox: Sandbox) -> stripe.StripeClient:
    return stripe.StripeClient(sandbox.api_key, base_addresses={"api": sandbox.url})
