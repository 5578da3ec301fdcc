"""Fault injection: 429 with Retry-After / Stripe-Should-Retry, 500 in Stripe's error shape,
slow answers and dropped connections, at the configured rate, deterministic by seed, counted."""

from __future__ import annotations

from collections import Counter

import pytest
import stripe

from stripe_sandbox import Sandbox
from tests.sandbox.conftest import START


def _outcomes(sandbox: Sandbox, n: int) -> list[str]:
    client = stripe.StripeClient(sandbox.api_key, base_addresses={"api": sandbox.url},
                                 max_network_retries=0)
    outcomes = []
    for _ in range(n):
        try:
            client.raw_request("get", "/v1/customers", limit=1)
            outcomes.append("ok")
        except stripe.RateLimitError as exc:
            assert exc.headers["Retry-After"] == "0"
            assert exc.headers["Stripe-Should-Retry"] == "true"
            assert exc.json_body["error"]["type"] == "invalid_request_error"
            outcomes.append("429")
        except stripe.APIConnectionError:
            outcomes.append("drop")
        except stripe.APIError as exc:
            assert exc.http_status == 500 and exc.json_body["error"]["type"] == "api_error"
            outcomes.append("500")
    return outcomes


def test_faults_happen_at_the_rate_and_are_counted_per_kind(sandbox):
    sandbox.faults.configure(rate=0.3, kinds=("429", "500", "slow", "drop"), seed=11,
                             slow_seconds=0.01, retry_after=0)
    outcomes = Counter(_outcomes(sandbox, 120))

    counts = sandbox.faults.counts
    assert counts["429"] == outcomes["429"] and counts["500"] == outcomes["500"]
    assert counts["drop"] == outcomes["drop"]
    assert outcomes["ok"] == 120 - counts["429"] - counts["500"] - counts["drop"]  # slow ones answer
    assert counts["slow"] > 0 and all(counts[k] > 0 for k in ("429", "500", "drop"))
    assert 0.15 < sandbox.faults.total / 120 < 0.45
    assert sandbox.faults.requests == 120


def test_same_seed_same_fault_sequence():
    runs = []
    for _ in range(2):
        with Sandbox(start=START) as sb:
            sb.faults.configure(rate=0.4, kinds=("429", "500", "drop"), seed=3, retry_after=0)
            runs.append(_outcomes(sb, 40))
    assert runs[0] == runs[1] and set(runs[0]) > {"ok"}


def test_rate_zero_is_off(sandbox):
    sandbox.faults.configure(rate=0.0)
    assert set(_outcomes(sandbox, 20)) == {"ok"}
    assert sandbox.faults.total == 0


def test_sdk_retries_through_injected_faults(sandbox):
    sandbox.create_customer()
    sandbox.faults.configure(rate=0.5, kinds=("429", "500"), seed=5, retry_after=0)
    client = stripe.StripeClient(sandbox.api_key, base_addresses={"api": sandbox.url},
                                 max_network_retries=8)
    assert len(client.v1.customers.list().data) == 1


def test_unknown_fault_kind_is_rejected(sandbox):
    with pytest.raises(ValueError):
        sandbox.faults.configure(rate=0.1, kinds=("503",))
