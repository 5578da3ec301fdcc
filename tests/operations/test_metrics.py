"""Metrics to alert on (issue 16, point 2): Stripe requests counted by status class with 429s
and 5xx visible — across processes through Redis —, webhook rejections by reason, counters
named `_total`, nothing NaN."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import redis
from prometheus_client import generate_latest

from stripe_sandbox import Sandbox
from worker.runtime import counters
from worker.stripe_api.transport import RetryPolicy, StripeApi
from worker.store.db import open_store
from worker.web.metrics import make_registry, webhook_reject_reason


@pytest.mark.parametrize(("status", "label"), [(200, "2xx"), (404, "4xx"), (429, "429"), (503, "5xx"),
                                               (None, "network")])
def test_status_classes_keep_rate_limits_apart(status, label):
    assert counters.status_class(status) == label


@pytest.mark.parametrize(("message", "reason"), [
    ("no v1 signature matches the body and STRIPE_WEBHOOK_SECRET", "signature"),
    ("the signature timestamp is more than 300 s away from now", "timestamp"),
    ("the body is not JSON", "malformed"),
    ("the body is larger than any Stripe event", "too_large"),
    ("the event's object id is not shaped like a Stripe id", "bad_id"),
])
def test_webhook_rejections_have_a_bounded_reason_label(message, reason):
    assert webhook_reject_reason(message) == reason


@pytest.mark.redis
def test_stripe_requests_by_status_class_are_shared_through_redis(sqlite_url, redis_url, redis_namespace):
    sb = Sandbox(api_key="sk_test_sandbox", start=datetime(2026, 11, 1, tzinfo=timezone.utc))
    for index in range(5):
        sb.create_customer(name=f"c{index}", metadata={"account_id": f"a{index}"})
    client = redis.Redis.from_url(redis_url)
    local = counters.read("stripe_requests", None, redis_namespace)  # this process's, from other tests
    counters.configure(client, redis_namespace)
    try:
        with sb:
            sb.faults.configure(rate=0.5, kinds=("429", "500"), seed=3, retry_after=0)
            api = StripeApi.connect(sb.api_key, sb.url, max_rps=1000,
                                    retry=RetryPolicy(max_attempts=30, base_delay=0.001, max_delay=0.01))
            for _ in range(6):
                api.get("/v1/customers", {"limit": 2})
            injected = dict(sb.faults.counts)
    finally:
        counters.configure(None, redis_namespace)
    scraped = generate_latest(make_registry(open_store(sqlite_url), clock=lambda: datetime.now(timezone.utc),
                                            redis_client=client, namespace=redis_namespace)).decode()
    for label, count in (("2xx", 6), ("429", injected.get("429", 0)), ("5xx", injected.get("500", 0))):
        expected = float(count + local.get(label, 0))
        assert f'lifecycle_stripe_requests_total{{status_class="{label}"}} {expected}' in scraped, scraped
    assert injected.get("429") and injected.get("500")
    assert "lifecycle_firings_total" in scraped and "lifecycle_deliveries_total" in scraped and "NaN" not in scraped
