"""Client-side request rate ceiling for the Stripe API (adapter).

`RateLimiter.acquire(endpoint)` blocks until one more request may start without any window of
one second (or of `1/max_rps` seconds when the ceiling is below one request per second) holding
more than the allowed number of request starts — overall (`STRIPE_MAX_RPS`) and, when
`endpoint_rps` is set, per endpoint (Stripe limits some endpoints to 25 requests/s of their
own, whatever the account's overall limit: `STRIPE_ENDPOINT_RPS`). Every attempt — retries
included — acquires, so the ceiling holds whatever the server answers. Thread-safe; clock
and sleep are injectable.

Within one process every client built from the settings shares one limiter (`shared_limiter`);
with REDIS_URL set the budget is shared by every process of the deployment through Redis
(`worker.stripe_api.redis_limit`), per Stripe account.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from worker.stripe_api.window import window_for


class Limiter(Protocol):
    def acquire(self, endpoint: str | None = None) -> object: ...


def endpoint_of(path: str) -> str:
    """The endpoint a request counts against: its first two path segments (`/v1/customers`
    for both the list and one customer), a conservative reading of Stripe's per-endpoint limit."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    return "/" + "/".join(parts[:2])


class _Log:
    """A sliding-window log of request starts."""

    def __init__(self, rps: float):
        self.burst, self.window = window_for(rps)
        self.starts: deque[float] = deque()

    def wait(self, now: float) -> float:
        """Seconds until a start is allowed (0: now)."""
        while self.starts and now - self.starts[0] >= self.window:
            self.starts.popleft()
        return 0.0 if len(self.starts) < self.burst else self.window - (now - self.starts[0])


class RateLimiter:
    """At most `max_rps` request starts per window overall, and `endpoint_rps` per endpoint."""

    def __init__(self, max_rps: float, *, endpoint_rps: float | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        if max_rps <= 0 or (endpoint_rps is not None and endpoint_rps <= 0):
            raise ValueError("max_rps and endpoint_rps must be positive")
        self.max_rps, self.endpoint_rps = max_rps, endpoint_rps
        self._all = _Log(max_rps)
        self.burst, self.window = self._all.burst, self._all.window
        self._endpoints: dict[str, _Log] = {}
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()

    def acquire(self, endpoint: str | None = None) -> None:
        """Wait for a free slot (overall and for `endpoint`), then record this request's start."""
        while True:
            with self._lock:
                now = self._clock()
                logs = [self._all]
                if endpoint is not None and self.endpoint_rps is not None:
                    logs.append(self._endpoints.setdefault(endpoint, _Log(self.endpoint_rps)))
                wait = max(log.wait(now) for log in logs)
                if wait <= 0:
                    for log in logs:
                        log.starts.append(now)
                    return
            self._sleep(max(wait, 0.0005))


_shared: dict[tuple, Limiter] = {}
_shared_lock = threading.Lock()


def shared_limiter(max_rps: float, endpoint_rps: float | None = None, *, redis_url: str | None = None,
                   namespace: str = "stripe-lifecycle", account: str = "default") -> Limiter:
    """The limiter for this ceiling: every client built from the settings in one process
    (worker threads, the scheduler's sync, webhook re-fetches) shares one budget; with
    `redis_url`, every process using that Redis shares it, per Stripe `account`."""
    key = (max_rps, endpoint_rps, redis_url, namespace, account)
    with _shared_lock:
        if key not in _shared:
            if redis_url:
                from worker.stripe_api.redis_limit import RedisRateLimiter  # noqa: PLC0415

                _shared[key] = RedisRateLimiter.from_url(redis_url, max_rps, endpoint_rps=endpoint_rps,
                                                         prefix=f"{namespace}:stripe-rate:{account}")
            else:
                _shared[key] = RateLimiter(max_rps, endpoint_rps=endpoint_rps)
        return _shared[key]
