"""Fault injection for the sandbox server: 429 (with `Retry-After`), 500, slow answers and
dropped connections, at a configurable rate, deterministic by seed, counted per kind."""

from __future__ import annotations

import random
import threading
from collections import Counter

KINDS = ("429", "500", "slow", "drop")


class Faults:
    """Decides, per request, whether and how to misbehave. `rate=0` (the default) is off."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.requests = 0
        self.configure(rate=0.0)

    def configure(self, rate: float = 0.1, kinds: tuple[str, ...] = KINDS, seed: int = 0,
                  slow_seconds: float = 0.5, retry_after: int = 1) -> None:
        unknown = set(kinds) - set(KINDS)
        if unknown or not kinds:
            raise ValueError(f"fault kinds must be among {KINDS}, got {kinds!r}")
        if not 0 <= rate <= 1:
            raise ValueError("fault rate must be between 0 and 1")
        with self._lock:
            self.rate = rate
            self.kinds = tuple(kinds)
            self.slow_seconds = slow_seconds
            self.retry_after = retry_after
            self._rng = random.Random(seed)

    def off(self) -> None:
        self.configure(rate=0.0)

    def reset_counts(self) -> None:
        with self._lock:
            self.counts.clear()
            self.requests = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def draw(self) -> str | None:
        """The fault for the next request, or None; counted when chosen."""
        with self._lock:
            self.requests += 1
            if self.rate <= 0:
                return None
            if self._rng.random() >= self.rate:
                return None
            kind = self._rng.choice(self.kinds)
            self.counts[kind] += 1
            return kind
