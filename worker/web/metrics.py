"""Prometheus metrics, read at scrape time from the database, Redis and the heartbeats.

Counting in the database rather than in process memory makes the figures the same whichever
process is scraped, and correct after restarts. Counts that only grow are counters (`_total`);
states are gauges. "Never" is a number an alert can compare, never NaN: a job that never
succeeded has `lifecycle_last_success_timestamp_seconds` 0 and `lifecycle_sync_lag_seconds`
+Inf. The full table with the matching health checks is in docs/operations.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import redis
from prometheus_client import Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy import func, select

from worker.runtime import counters
from worker.runtime.heartbeat import JOBS, parse_at
from worker.store.db import Store
from worker.store.models import Delivery, Firing, Quarantine, SyncState
from worker.sync.state import LAST_SYNC_KEY  # its value holds {"at": ISO-8601}

QUEUES = ("sync", "evaluate", "deliver")
WEBHOOK_REJECT_REASONS = ("signature", "timestamp", "malformed", "too_large", "bad_id", "other")

# Webhooks arrive at the web process itself: plain in-process counters (not in the default
# registry; each app's registry includes them).
WEBHOOKS_RECEIVED = Counter("lifecycle_webhooks_received", "Stripe webhook events accepted", registry=None)
WEBHOOKS_REJECTED = Counter("lifecycle_webhooks_rejected", "Stripe webhook requests rejected, by reason",
                            ["reason"], registry=None)
for _reason in WEBHOOK_REJECT_REASONS:  # every reason exported from the start (0), so alerts see it
    WEBHOOKS_REJECTED.labels(_reason)


def webhook_reject_reason(message: str) -> str:
    """A bounded label for a rejection message of `worker.web.webhook`."""
    text = message.lower()
    for needle, reason in (("timestamp is", "timestamp"), ("signature", "signature"), ("larger", "too_large"),
                           ("not json", "malformed"), ("not a stripe event", "malformed"), ("id is not", "bad_id")):
        if needle in text:
            return reason
    return "other"


def last_sync_at(store: Store) -> datetime | None:
    with store.session() as session:
        row = session.get(SyncState, LAST_SYNC_KEY)
    if row is None or not row.value.get("at"):
        return None
    return datetime.fromisoformat(row.value["at"].replace("Z", "+00:00"))


def _gauge(name: str, doc: str, value: float | None = None, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value, labels=labels)


class StoreCollector(Collector):
    """Everything but the webhook counters; `facts()` is the health module's gather (the same
    facts /healthz judges)."""

    def __init__(self, store: Store, clock: Callable[[], datetime], *, facts: Callable[[], Any] | None = None,
                 redis_client: redis.Redis | None = None, namespace: str = "stripe-lifecycle",
                 stale_s: float = 120.0):
        self.store, self.clock, self.facts = store, clock, facts
        self.redis, self.namespace, self.stale_s = redis_client, namespace, stale_s

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        yield from self._deliveries()
        yield from self._health()
        yield from self._queues()
        stripe = CounterMetricFamily("lifecycle_stripe_requests", "Stripe API requests by status class "
                                     "(2xx, 4xx, 429, 5xx, network)", labels=["status_class"])
        found = counters.read("stripe_requests", self.redis, self.namespace)
        for label in sorted({"2xx", "4xx", "429", "5xx", "network", *found}):
            stripe.add_metric([label], found.get(label, 0))
        yield stripe

    def _deliveries(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        now = self.clock()
        with self.store.session() as session:
            by_state = dict(session.execute(select(Delivery.state, func.count()).group_by(Delivery.state)).all())
            dead_by_handler = session.execute(select(Delivery.handler, Delivery.kind, func.count())
                                              .where(Delivery.state == "dead")
                                              .group_by(Delivery.handler, Delivery.kind)).all()
            firings = dict(session.execute(select(Firing.arm, func.count()).group_by(Firing.arm)).all())
            quarantined = session.scalar(
                select(func.count()).select_from(Quarantine).where(Quarantine.resolved_at.is_(None)))
            oldest = session.scalar(select(func.min(Delivery.next_attempt_at)).where(
                Delivery.state.in_(("pending", "retrying")), Delivery.next_attempt_at <= now))
        open_ = _gauge("lifecycle_deliveries_open", "Deliveries not yet delivered or dead, by state", labels=["state"])
        for state in ("pending", "retrying"):
            open_.add_metric([state], by_state.get(state, 0))
        yield open_
        done = CounterMetricFamily("lifecycle_deliveries", "Deliveries that reached a final state", labels=["state"])
        for state in ("delivered", "dead"):
            done.add_metric([state], by_state.get(state, 0))
        yield done
        dead = CounterMetricFamily("lifecycle_deliveries_dead", "Dead deliveries by handler and kind",
                                   labels=["handler", "kind"])
        for handler, kind, count in dead_by_handler:
            dead.add_metric([handler, kind], count)
        yield dead
        fired = CounterMetricFamily("lifecycle_firings", "Automation firings by arm", labels=["arm"])
        for arm in ("treated", "holdout"):
            fired.add_metric([arm], firings.get(arm, 0))
        yield fired
        yield _gauge("lifecycle_quarantined_objects", "Stripe objects in quarantine", quarantined or 0)
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=now.tzinfo)
        age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
        yield _gauge("lifecycle_oldest_due_delivery_age_seconds",
                     "How long the oldest due, unsent delivery has waited (0 when none)", age)

    def _health(self) -> Iterator[GaugeMetricFamily]:
        now = self.clock()
        facts = self.facts() if self.facts is not None else None
        last = facts.last if facts is not None else {"sync": last_sync_at(self.store)}
        stamp = _gauge("lifecycle_last_success_timestamp_seconds",
                       "Unix time of the last successful job (0 = never)", labels=["job"])
        for job in JOBS:
            at = last.get(job)
            stamp.add_metric([job], at.timestamp() if at else 0.0)
        yield stamp
        at = last.get("sync")
        yield _gauge("lifecycle_sync_lag_seconds", "Seconds since the last successful sync (+Inf = never)",
                     (now - at).total_seconds() if at else math.inf)
        yield _gauge("lifecycle_synced", "1 once any sync succeeded, else 0", 1 if at else 0)
        if facts is None:
            return
        yield _gauge("lifecycle_rules_valid", "1 when every rule file is valid, else 0",
                     0 if facts.rules_problem else 1)
        yield _gauge("lifecycle_scheduler_leader", "1 when a scheduler holds the leader lock, else 0",
                     1 if facts.leader else 0)
        beats = _gauge("lifecycle_heartbeat_age_seconds", "Seconds since each process's last heartbeat",
                       labels=["role", "process"])
        for beat in facts.beats:
            beat_at = parse_at(beat.get("at"))
            if beat_at is not None:
                beats.add_metric([beat.get("role", "?"), beat["id"]], max(0.0, (now - beat_at).total_seconds()))
        yield beats
        alive = _gauge("lifecycle_processes_alive", "Processes with a fresh heartbeat, by role", labels=["role"])
        for role in ("worker", "scheduler"):
            fresh = [b for b in facts.beats if b.get("role") == role and (at := parse_at(b.get("at")))
                     and (now - at).total_seconds() <= self.stale_s]
            alive.add_metric([role], len(fresh))
        yield alive

    def _queues(self) -> Iterator[GaugeMetricFamily]:
        if self.redis is None:
            return
        depth = _gauge("lifecycle_queue_depth", "Messages waiting in each queue (ready + delayed)", labels=["queue"])
        flight = _gauge("lifecycle_queue_in_flight", "Messages held by workers, per queue", labels=["queue"])
        try:
            in_flight, delayed_held = dict.fromkeys(QUEUES, 0), dict.fromkeys(QUEUES, 0)
            for key in self.redis.scan_iter(match=f"{self.namespace}:__acks__.*", count=500):
                parts = key.decode().rsplit(".", 2)
                held = delayed_held if parts[-1] == "DQ" else in_flight
                queue = parts[-2] if parts[-1] == "DQ" else parts[-1]
                if queue in held:  # a delayed message a worker holds until its time is waiting, not working
                    held[queue] += self.redis.scard(key)
            for queue in QUEUES:
                waiting = (self.redis.llen(f"{self.namespace}:{queue}") + self.redis.llen(f"{self.namespace}:{queue}.DQ")
                           + delayed_held[queue])
                depth.add_metric([queue], waiting)
                flight.add_metric([queue], in_flight[queue])
        except (redis.RedisError, OSError):
            return
        yield depth
        yield flight


def make_registry(store: Store, clock: Callable[[], datetime], *, facts: Callable[[], Any] | None = None,
                  redis_client: redis.Redis | None = None, namespace: str = "stripe-lifecycle",
                  stale_s: float = 120.0) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store, clock, facts=facts, redis_client=redis_client, namespace=namespace,
                                     stale_s=stale_s))
    registry.register(WEBHOOKS_RECEIVED)
    registry.register(WEBHOOKS_REJECTED)
    return registry
