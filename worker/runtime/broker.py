"""The dramatiq broker: Redis when REDIS_URL is set, an in-process StubBroker otherwise.

Queue messages carry only ids and tick times; the database is the source of truth, so a lost
message is re-created by the reconcilers (ARCHITECTURE.md). Three queues keep slow work from
starving urgent work: `sync`, `evaluate`, `deliver`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker

from worker.errors import ConfigError
from worker.logs import redact, register_secrets
from worker.urls import BadUrl, check_service_url, describe_url, url_secrets

QUEUES = ("sync", "evaluate", "deliver")
NAMESPACE = "stripe-lifecycle"


def check_redis(redis_url: str) -> redis.Redis:
    """A Redis client that answered PING, or a ConfigError naming REDIS_URL."""
    register_secrets(url_secrets(redis_url))
    try:
        check_service_url("REDIS_URL", redis_url, ("redis", "rediss", "unix"), "redis://localhost:6379/0")
        client = redis.Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=10)
    except ValueError as exc:
        reason = f" ({exc})" if isinstance(exc, BadUrl) else ""
        raise ConfigError(f"REDIS_URL is not a Redis URL{reason}.",
                          fix="Use e.g. redis://localhost:6379/0 (percent-encode special characters of "
                          "the password).") from None
    try:
        client.ping()
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        raise ConfigError(
            f"Cannot reach Redis at {describe_url(redis_url, 'REDIS_URL')} ({redact(str(exc))}).",
            fix="Check REDIS_URL and that Redis is running, or unset REDIS_URL to use the "
            "embedded in-process broker.",
        ) from None
    return client


def make_broker(redis_url: str | None, *, namespace: str = NAMESPACE, ping: bool = True) -> dramatiq.Broker:
    """Create (not install) the broker for this process; `ping=False` does no I/O (the
    worker's import of `worker.tasks`: Redis is checked at process boot instead)."""
    if redis_url:
        if ping:
            check_redis(redis_url)
        broker: dramatiq.Broker = RedisBroker(url=redis_url, namespace=namespace)
    else:
        broker = StubBroker()
        broker.emit_after("process_boot")  # enables time limits in an in-process worker
    for queue in QUEUES:
        broker.declare_queue(queue)
    return broker


def install(broker: dramatiq.Broker, actors: Iterable[Any]) -> dramatiq.Broker:
    """Make `broker` the global one and (re)bind the already-declared `actors` to it."""
    dramatiq.set_broker(broker)
    for actor in actors:
        actor.broker = broker
        broker.declare_actor(actor)
    return broker
