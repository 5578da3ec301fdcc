"""Fixtures for the action handler tests: a firing's context and a short-timeout HTTP seam."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from actions.base import ActionContext
from actions.http import HttpSeam

FIRED_AT = datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc)
SENT_AT = datetime(2026, 11, 2, 9, 31, 5, tzinfo=timezone.utc)

ACCOUNT = {
    "contact_id": "acme-1",
    "contact_type": "account",
    "name": "Acme",
    "email": "billing@acme.example",
    "stripe_customer_ids": ["cus_123"],
    "stage": "customer",
    "mrr": {"amount_minor": 15000, "currency": "usd"},
    "renewal_date": "2026-12-01T00:00:00Z",
    "subscriptions": [{
        "id": "sub_1", "customer": "cus_123", "status": "active", "mrr_minor": 15000,
        "currency": "usd", "renewal_date": "2026-12-01T00:00:00Z", "cancel_at": None,
        "cancel_at_period_end": False, "trial_end": None,
    }],
}

USER = {**ACCOUNT, "contact_id": "u-7", "contact_type": "user", "name": "Ada", "email": "ada@acme.example"}


@pytest.fixture
def seam() -> Iterator[HttpSeam]:
    """The HTTP seam with a short timeout, its retry-after clock pinned to SENT_AT."""
    seam = HttpSeam(timeout=0.5, clock=lambda: SENT_AT)
    try:
        yield seam
    finally:
        seam.close()


@pytest.fixture
def make_ctx(seam):
    """Build the ActionContext of one delivery, as the delivery layer does."""

    def build(contact: dict[str, Any] | None = None, **overrides: Any) -> ActionContext:
        fields: dict[str, Any] = {
            "automation": "renewal-heads-up",
            "trigger": "renewal_due",
            "occurrence": "renewal_due:acme-1:2026-12-01",
            "arm": "treated",
            "fired_at": FIRED_AT,
            "contact": contact or ACCOUNT,
            "subscription": None,
            "idempotency_key": "dlv_0001",
            "now": lambda: SENT_AT,
            "http": seam,
        }
        fields.update(overrides)
        return ActionContext.build(**fields)

    return build
