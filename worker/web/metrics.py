"""Prometheus metrics, read from the database at scrape time (the source of truth).

Counting in the database rather than in process memory makes the figures the same whichever
process is scraped, and correct after restarts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy import func, select

from worker.store.db import Store
from worker.store.models import Delivery, Firing, Quarantine, SyncState
from worker.sync.state import LAST_SYNC_KEY  # its value holds {"at": ISO-8601}


def last_sync_at(store: Store) -> datetime | None:
    with store.session() as session:
        row = session.get(SyncState, LAST_SYNC_KEY)
    if row is None or not row.value.get("at"):
        return None
    return datetime.fromisoformat(row.value["at"].replace("Z", "+00:00"))


class StoreCollector(Collector):
    def __init__(self, store: Store, clock: Callable[[], datetime]):
        self.store = store
        self.clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self.store.session() as session:
            by_state = dict(session.execute(select(Delivery.state, func.count()).group_by(Delivery.state)).all())
            dead_by_handler = session.execute(select(Delivery.handler, Delivery.kind, func.count())
                                              .where(Delivery.state == "dead")
                                              .group_by(Delivery.handler, Delivery.kind)).all()
            firings = dict(session.execute(select(Firing.arm, func.count()).group_by(Firing.arm)).all())
            quarantined = session.scalar(
                select(func.count()).select_from(Quarantine).where(Quarantine.resolved_at.is_(None)))
        deliveries = GaugeMetricFamily("lifecycle_deliveries", "Deliveries by state", labels=["state"])
        for state in ("pending", "retrying", "delivered", "dead"):
            deliveries.add_metric([state], by_state.get(state, 0))
        yield deliveries
        dead = GaugeMetricFamily("lifecycle_deliveries_dead", "Dead deliveries by handler and kind",
                                 labels=["handler", "kind"])
        for handler, kind, count in dead_by_handler:
            dead.add_metric([handler, kind], count)
        yield dead
        fired = GaugeMetricFamily("lifecycle_firings", "Automation firings by arm", labels=["arm"])
        for arm in ("treated", "holdout"):
            fired.add_metric([arm], firings.get(arm, 0))
        yield fired
        yield GaugeMetricFamily("lifecycle_quarantined_objects", "Stripe objects in quarantine",
                                value=quarantined or 0)
        last = last_sync_at(self.store)
        lag = (self.clock() - last).total_seconds() if last else float("nan")
        yield GaugeMetricFamily("lifecycle_sync_lag_seconds", "Seconds since the last successful sync",
                                value=lag)


def make_registry(store: Store, clock: Callable[[], datetime]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store, clock))
    return registry
