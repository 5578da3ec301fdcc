"""The Stripe request ceiling shared by every process of a deployment, through Redis (adapter).

Stripe's rate limit belongs to the account, not to a process: with several worker processes
each holding its own limiter, operators had to divide STRIPE_MAX_RPS by hand. Here every
process asks one Redis script, which keeps a sliding-window log per Stripe account (a sorted
set of start times, on Redis's own clock so process clocks do not matter) overall and per
endpoint, and grants a start only when both windows have room; otherwise it answers how long
to wait. A start is recorded in the same atomic step as the check, so two processes can never
both take the last slot.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import redis

from worker.stripe_api.window import window_for

# KEYS: the logs to check (overall, then the endpoint's). ARGV: member, then per key its
# burst and window (µs). Returns {0, now µs} when granted, else {wait µs, now µs}.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local wait = 0
for i, key in ipairs(KEYS) do
  local burst = tonumber(ARGV[2 * i])
  local window = tonumber(ARGV[2 * i + 1])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= burst then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    local w = tonumber(oldest[2]) + window - now
    if w > wait then wait = w end
  end
end
if wait > 0 then return {wait, now} end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[1] .. ':' .. now)
  redis.call('PEXPIRE', key, math.ceil(tonumber(ARGV[2 * i + 1]) / 1000) + 1000)
end
return {0, now}
"""


class RedisRateLimiter:
    """`acquire(endpoint)` as `RateLimiter`, the windows kept in Redis under `prefix`."""

    def __init__(self, client: redis.Redis, max_rps: float, *, endpoint_rps: float | None = None,
                 prefix: str = "stripe-lifecycle:stripe-rate:default", sleep: Callable[[float], None] = time.sleep):
        if max_rps <= 0 or (endpoint_rps is not None and endpoint_rps <= 0):
            raise ValueError("max_rps and endpoint_rps must be positive")
        self.max_rps, self.endpoint_rps, self.prefix = max_rps, endpoint_rps, prefix
        self._script = client.register_script(_ACQUIRE)
        self._sleep = sleep
        self._member = uuid.uuid4().hex

    @classmethod
    def from_url(cls, url: str, max_rps: float, **kwargs) -> RedisRateLimiter:  # noqa: ANN003
        return cls(redis.Redis.from_url(url), max_rps, **kwargs)

    def acquire(self, endpoint: str | None = None) -> float:
        """Wait for a free slot; returns the start's time on Redis's clock (seconds)."""
        keys, args = [f"{self.prefix}:all"], [self._member]
        args += _window_args(self.max_rps)
        if endpoint is not None and self.endpoint_rps is not None:
            keys.append(f"{self.prefix}:endpoint:{endpoint}")
            args += _window_args(self.endpoint_rps)
        while True:
            wait_us, now_us = self._script(keys=keys, args=args)
            if int(wait_us) <= 0:
                return int(now_us) / 1_000_000
            self._sleep(max(int(wait_us) / 1_000_000, 0.0005))


def _window_args(rps: float) -> list[int]:
    burst, window = window_for(rps)
    return [burst, int(window * 1_000_000)]
