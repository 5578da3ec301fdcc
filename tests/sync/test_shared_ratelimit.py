"""The Stripe request ceiling is per account across the deployment (issue #18, point 2): one
limiter holds STRIPE_MAX_RPS and Stripe's per-endpoint limit, and with REDIS_URL set two real
processes share one budget."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from worker.stripe_api.ratelimit import RateLimiter, endpoint_of, shared_limiter
from worker.stripe_api.redis_limit import RedisRateLimiter

ROOT = Path(__file__).resolve().parents[2]
CHILD = """
import json, sys
from worker.stripe_api.ratelimit import shared_limiter
url, namespace, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
limiter = shared_limiter(4, 1000, redis_url=url, namespace=namespace, account="acct")
print(json.dumps([limiter.acquire("/v1/customers") for _ in range(count)]))
"""


def _most_in_one_second(starts: list[float]) -> int:
    starts = sorted(starts)
    return max(sum(1 for t in starts if first <= t < first + 1.0) for first in starts)


def _fake_clock():
    now = [0.0]
    return now, (lambda: now[0]), (lambda s: now.__setitem__(0, now[0] + s))


def test_the_endpoint_limit_holds_below_the_overall_ceiling():
    now, clock, sleep = _fake_clock()
    limiter = RateLimiter(100, endpoint_rps=25, clock=clock, sleep=sleep)
    starts = []
    for _ in range(75):
        limiter.acquire("/v1/customers")
        starts.append(now[0])
    assert _most_in_one_second(starts) == 25  # the endpoint's 25/s, not the overall 100/s
    other = []
    for _ in range(25):  # another endpoint has its own 25, inside the overall 100
        limiter.acquire("/v1/subscriptions")
        other.append(now[0])
    assert other[0] == starts[-1]  # no wait: the other endpoint's window was empty


def test_the_overall_ceiling_holds_across_endpoints():
    now, clock, sleep = _fake_clock()
    limiter = RateLimiter(30, endpoint_rps=25, clock=clock, sleep=sleep)
    starts = []
    for i in range(90):
        limiter.acquire(["/v1/customers", "/v1/prices", "/v1/products"][i % 3])
        starts.append(now[0])
    assert _most_in_one_second(starts) == 30


def test_endpoints_are_their_first_two_path_segments():
    assert endpoint_of("/v1/customers/cus_1") == endpoint_of("/v1/customers") == "/v1/customers"
    assert endpoint_of("/v1/subscriptions/sub_1?expand[]=x") == "/v1/subscriptions"


@pytest.mark.slow
def test_two_processes_share_one_limit_through_redis(redis_url, redis_namespace):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    children = [subprocess.Popen([sys.executable, "-c", CHILD, redis_url, redis_namespace, "10"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                for _ in range(2)]
    results = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        results.append(json.loads(out))
    starts = [t for result in results for t in result]
    assert [len(r) for r in results] == [10, 10]
    # Granted starts on Redis's clock: at most 4 in any second across both processes (each
    # process alone would have allowed 4, i.e. 8 together).
    assert _most_in_one_second(starts) <= 4
    assert _most_in_one_second(starts) == 4  # and the budget is used


def test_the_shared_limiter_uses_redis_when_configured(redis_url, redis_namespace):
    limiter = shared_limiter(5, 25, redis_url=redis_url, namespace=redis_namespace, account="eu")
    assert isinstance(limiter, RedisRateLimiter) and limiter.prefix == f"{redis_namespace}:stripe-rate:eu"
    assert shared_limiter(5, 25, redis_url=redis_url, namespace=redis_namespace, account="eu") is limiter
    assert isinstance(shared_limiter(5, 25), RateLimiter)


def test_the_redis_endpoint_limit_holds_with_a_higher_overall_ceiling(redis_url, redis_namespace):
    import redis

    waits: list[float] = []
    limiter = RedisRateLimiter(redis.Redis.from_url(redis_url), 100, endpoint_rps=3,
                               prefix=f"{redis_namespace}:x", sleep=lambda s: waits.append(s))
    for _ in range(3):
        limiter.acquire("/v1/customers")
    assert waits == []
    limiter.acquire("/v1/prices")  # another endpoint: room
    assert waits == []
    real = limiter._sleep
    calls = []

    def sleep_once(seconds):
        calls.append(seconds)
        import time

        time.sleep(seconds)

    limiter._sleep = sleep_once
    limiter.acquire("/v1/customers")  # the fourth start on this endpoint waits for the window
    assert calls and 0 < calls[0] <= 1.02
    limiter._sleep = real
