"""Leader election for schedulers: a Redis lock taken with SET NX PX and renewed by its owner.

Two scheduler processes would fire every job twice (FACTS.md); with this lock one acts and the
others stand by, taking over within one TTL when the leader stops. `acquire_or_renew` is one
atomic Lua call, so checking leadership and extending it cannot interleave with a rival.
"""

from __future__ import annotations

import os
import socket
import uuid
from typing import Protocol

import redis

_ACQUIRE_OR_RENEW = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if current == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Leadership(Protocol):
    def acquire_or_renew(self) -> bool: ...
    def release(self) -> None: ...
    def claim_tick(self, job: str, slot: int, ttl_s: int) -> bool: ...


class LocalLeader:
    """The embedded process is alone: always the leader, every tick is its own."""

    def acquire_or_renew(self) -> bool:
        return True

    def release(self) -> None:
        return None

    def claim_tick(self, job: str, slot: int, ttl_s: int) -> bool:
        return True


class RedisLeader:
    def __init__(self, client: redis.Redis, *, key: str, ttl_ms: int, token: str | None = None):
        self.client = client
        self.key = key
        self.ttl_ms = ttl_ms
        # host:pid:random — unique per process, and tells ops who leads (`GET <key>`).
        self.token = token or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._acquire = client.register_script(_ACQUIRE_OR_RENEW)
        self._release = client.register_script(_RELEASE)

    def acquire_or_renew(self) -> bool:
        try:
            return bool(self._acquire(keys=[self.key], args=[self.token, self.ttl_ms]))
        except (redis.ConnectionError, redis.TimeoutError):
            return False  # cannot prove leadership: stand by

    def release(self) -> None:
        try:
            self._release(keys=[self.key], args=[self.token])
        except (redis.ConnectionError, redis.TimeoutError):
            pass

    def claim_tick(self, job: str, slot: int, ttl_s: int) -> bool:
        """Belt and braces for the hand-over instant: each (job, slot) is enqueued once."""
        try:
            return bool(self.client.set(f"{self.key}:tick:{job}:{slot}", self.token, nx=True, ex=ttl_s))
        except (redis.ConnectionError, redis.TimeoutError):
            return False
