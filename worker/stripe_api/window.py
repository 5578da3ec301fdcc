"""The sliding window a request ceiling allows (Stripe adapter), shared by the in-process and
the Redis rate limiters (`worker.stripe_api.ratelimit`, `worker.stripe_api.redis_limit`)."""

from __future__ import annotations

import math


def window_for(rps: float) -> tuple[int, float]:
    """(starts allowed, window seconds) for a ceiling. A 2 % margin keeps the ceiling true where
    it is measured (at the server, after network jitter), not only where the requests start."""
    return max(1, math.floor(rps)), max(1.0, 1.0 / rps) * 1.02
