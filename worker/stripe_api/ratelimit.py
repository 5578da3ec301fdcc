"""Client-side request rate ceiling for the Stripe API (adapter).

`RateLimiter.acquire()` blocks until one more request may start without any window of one
second (or of `1/max_rps` seconds when the ceiling is below one request per second) holding
more than the allowed number of request starts. Every attempt — retries included — acquires,
so the ceiling holds whatever the server answers. Thread-safe; clock and sleep are injectable.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable


class RateLimiter:
    """A sliding-window log: at most `burst` request starts in any `window` seconds."""

    def __init__(self, max_rps: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if max_rps <= 0:
            raise ValueError("max_rps must be positive")
        self.max_rps = max_rps
        self.burst = max(1, math.floor(max_rps))
        # A 2 % margin keeps the ceiling true where it is measured (at the server, after
        # network jitter), not only where the requests start.
        self.window = max(1.0, 1.0 / max_rps) * 1.02
        self._clock = clock
        self._sleep = sleep
        self._starts: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Wait for a free slot, then record this request's start."""
        while True:
            with self._lock:
                now = self._clock()
                while self._starts and now - self._starts[0] >= self.window:
                    self._starts.popleft()
                if len(self._starts) < self.burst:
                    self._starts.append(now)
                    return
                wait = self.window - (now - self._starts[0])
            self._sleep(max(wait, 0.0005))


_shared: dict[float, RateLimiter] = {}
_shared_lock = threading.Lock()


def shared_limiter(max_rps: float) -> RateLimiter:
    """The process-wide limiter for this ceiling: every client built from the settings in one
    process (worker threads, the scheduler's sync, webhook re-fetches) shares one budget."""
    with _shared_lock:
        if max_rps not in _shared:
            _shared[max_rps] = RateLimiter(max_rps)
        return _shared[max_rps]
