"""Counters shared across processes: Stripe requests by status class (adapter).

Stripe requests are made by worker processes, but `/metrics` is served by `web`. With
`REDIS_URL` each increment goes to one Redis hash (`<REDIS_NAMESPACE>:counters:<name>`), so
any web process reports the sum of all workers; embedded, the counts live in this process
(the all-in-one `run` serves its own). Counting never fails the work it counts.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import redis

_lock = threading.Lock()
_local: Counter[tuple[str, str]] = Counter()
_shared: dict[str, Any] = {}


def configure(redis_client: redis.Redis | None, namespace: str) -> None:
    """Send this process's increments to Redis (workers call it at boot)."""
    _shared.update(client=redis_client, namespace=namespace)


def incr(name: str, label: str, amount: int = 1) -> None:
    client = _shared.get("client")
    if client is not None:
        try:
            client.hincrby(f"{_shared['namespace']}:counters:{name}", label, amount)
            return
        except (redis.RedisError, OSError):
            pass
    with _lock:
        _local[(name, label)] += amount


def read(name: str, redis_client: redis.Redis | None, namespace: str) -> dict[str, int]:
    """This process's counts plus, with Redis, every process's."""
    with _lock:
        found = Counter({label: n for (counter, label), n in _local.items() if counter == name})
    if redis_client is not None:
        try:
            for label, n in redis_client.hgetall(f"{namespace}:counters:{name}").items():
                found[label.decode()] += int(n)
        except (redis.RedisError, OSError):
            pass
    return dict(found)


def status_class(status: int | None) -> str:
    """`2xx`, `4xx`, `429` (rate limited, its own class), `5xx`, or `network`."""
    if status is None:
        return "network"
    if status == 429:
        return "429"
    return f"{status // 100}xx"
