"""Heartbeats and last successes: what `/healthz` and `/metrics` read to tell the truth (adapter).

Every long-running process writes a heartbeat — the scheduler on each leader renewal, each
worker process from a background thread (a dramatiq middleware) — with its role, when it
started, and, for workers, when a message last succeeded and since when every message has
failed. With `REDIS_URL` they live in one Redis hash (`<REDIS_NAMESPACE>:heartbeats`), else
in the database (`sync_state` rows `hb:…`), so the web process of any deployment sees them.

The last *successful* sync, evaluate and measure are database facts (`sync_state` rows
`last_sync`, `last_evaluate`, `last_measure`), written by the use-cases when they complete.
A process that stops cleanly removes its heartbeat; a killed one leaves it to go stale.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import dramatiq
import redis
from dramatiq.middleware import Middleware
from sqlalchemy import delete, select

from worker.logs import get_logger
from worker.runtime import counters
from worker.store.db import Store
from worker.store.models import SyncState

log = get_logger("heartbeat")
JOBS = ("sync", "evaluate", "measure")
SUCCESS_KEYS = {"sync": "last_sync", "evaluate": "last_evaluate", "measure": "last_measure"}
DB_PREFIX = "hb:"
FORGET_AFTER_S = 24 * 3600
MIN_BEAT_S = 5.0  # heartbeats older than this are dropped, not reported


def _iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat()


def parse_at(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def process_id(role: str) -> str:
    return f"{role}:{os.getpid()}@{socket.gethostname()[:24]}"


# --- last successes (database) ------------------------------------------------------------

def record_success(store: Store, job: str, now: datetime, **detail: Any) -> None:
    """Remember that `job` (sync | evaluate | measure) completed at `now`."""
    key = SUCCESS_KEYS[job]
    with store.session() as session:
        session.merge(SyncState(key=key, value={"at": _iso(now), **detail}, updated_at=now))


def last_successes(store: Store) -> dict[str, datetime | None]:
    with store.session() as session:
        rows = dict(session.execute(select(SyncState.key, SyncState.value)
                                    .where(SyncState.key.in_(list(SUCCESS_KEYS.values())))).all())
    return {job: parse_at((rows.get(key) or {}).get("at")) for job, key in SUCCESS_KEYS.items()}


# --- heartbeats (Redis, else database) ----------------------------------------------------

class Heartbeats:
    """Where heartbeats are written and read: a Redis hash, or `sync_state` rows."""

    def __init__(self, *, redis_client: redis.Redis | None, namespace: str, store: Store | None):
        self.redis = redis_client
        self.key = f"{namespace}:heartbeats"
        self.store = store

    def write(self, ident: str, beat: dict[str, Any], now: datetime) -> None:
        if self.redis is not None:
            self.redis.hset(self.key, ident, json.dumps(beat))
        elif self.store is not None:
            with self.store.session() as session:
                session.merge(SyncState(key=(DB_PREFIX + ident)[:64], value=beat, updated_at=now))

    def remove(self, ident: str) -> None:
        try:
            if self.redis is not None:
                self.redis.hdel(self.key, ident)
            elif self.store is not None:
                with self.store.session() as session:
                    session.execute(delete(SyncState).where(SyncState.key == (DB_PREFIX + ident)[:64]))
        except Exception:  # noqa: BLE001 - best effort at shutdown
            pass

    def read(self, now: datetime) -> list[dict[str, Any]]:
        """Every heartbeat younger than FORGET_AFTER_S (older ones are dropped)."""
        raw: dict[str, Any] = {}
        if self.redis is not None:
            raw = {k.decode(): json.loads(v) for k, v in self.redis.hgetall(self.key).items()}
        elif self.store is not None:
            with self.store.session() as session:
                rows = session.execute(select(SyncState.key, SyncState.value)
                                       .where(SyncState.key.like(DB_PREFIX + "%"))).all()
            raw = {key[len(DB_PREFIX):]: value for key, value in rows}
        beats = []
        for ident, beat in raw.items():
            at = parse_at(beat.get("at"))
            if at is None or (now - at).total_seconds() > FORGET_AFTER_S:
                if self.redis is not None:
                    self.redis.hdel(self.key, ident)
                continue
            beats.append({**beat, "id": ident})
        return beats


def heartbeats_for(settings: Any, store: Store | None = None) -> Heartbeats:
    url = settings.redis_url.get_secret_value() if settings.redis_url else None
    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=5) if url else None
    if client is None and store is None:
        from worker.store.db import open_store  # noqa: PLC0415

        store = open_store(settings.database_url.get_secret_value())
    return Heartbeats(redis_client=client, namespace=settings.redis_namespace, store=store)


class Beacon:
    """One process's heartbeat: `beat()` writes it, with whatever facts the role adds."""

    def __init__(self, sink: Heartbeats, role: str, clock: Callable[[], datetime]):
        self.sink, self.role, self.clock = sink, role, clock
        self.ident = process_id(role)
        self.started_at = clock()
        self.facts: dict[str, Any] = {}
        self._last: datetime | None = None
        self._lock = threading.Lock()

    def beat(self, **facts: Any) -> None:
        """Write the heartbeat (at most every MIN_BEAT_S unless a fact changed)."""
        now = self.clock()
        with self._lock:
            changed = any(self.facts.get(k, object()) != v for k, v in facts.items())
            if not changed and self._last is not None and (now - self._last).total_seconds() < MIN_BEAT_S:
                return
            self._last = now
            self.facts.update(facts)
            beat = {"role": self.role, "at": _iso(now), "started_at": _iso(self.started_at), **self.facts}
        try:
            self.sink.write(self.ident, beat, now)
        except Exception as exc:  # noqa: BLE001 - a missed beat shows as staleness, never a crash
            log.warning("heartbeat_failed", error=str(exc))

    def stop(self) -> None:
        self.sink.remove(self.ident)


class HeartbeatMiddleware(Middleware):
    """Worker heartbeat: a thread beats every `every_s`; each message's result is recorded, so
    a worker whose every message fails is seen (`failing_since`) although it is alive."""

    def __init__(self, settings: Any, *, clock: Callable[[], datetime] | None = None, every_s: float = 15.0):
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.every_s = min(every_s, max(1.0, settings.health_heartbeat_stale_s / 4))
        self.beacon: Beacon | None = None
        self._stop = threading.Event()

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        sink = heartbeats_for(self.settings)
        if sink.redis is not None:
            counters.configure(sink.redis, self.settings.redis_namespace)
        self.beacon = Beacon(sink, "worker", self.clock)
        self.beacon.beat(last_ok=None, failing_since=None, processed=0, failed=0)
        threading.Thread(target=self._run, name="heartbeat", daemon=True).start()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            if self.beacon is not None:
                self.beacon.beat()

    def after_process_message(self, broker: dramatiq.Broker, message: Any, *, result: Any = None,
                              exception: BaseException | None = None) -> None:
        beacon = self.beacon
        if beacon is None:
            return
        now = _iso(self.clock())
        with beacon._lock:
            facts = beacon.facts
            if exception is None:
                facts.update(last_ok=now, failing_since=None, processed=facts.get("processed", 0) + 1)
            else:
                facts.update(failing_since=facts.get("failing_since") or now, failed=facts.get("failed", 0) + 1)

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        self._stop.set()
        if self.beacon is not None:
            self.beacon.stop()
