"""The scheduler: APScheduler 3 interval jobs that only enqueue messages.

Fire times are aligned to the Unix epoch, so every scheduler computes the same slots; a job
enqueues its actor with the slot's time (`tick`) only while this process holds the leader
lock and only if no other scheduler claimed that slot. The work itself runs in the workers.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger

from worker.logs import get_logger, new_unit_of_work
from worker.runtime.leader import Leadership

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
log = get_logger("scheduler")


@dataclass(frozen=True)
class Job:
    name: str
    every_s: int
    enqueue: Callable[[str], None]  # receives the slot time as ISO-8601


def slot_of(now: datetime, every_s: int) -> int:
    """The epoch-aligned slot a fire at `now` belongs to (runs land just after their time)."""
    return math.floor((now - EPOCH).total_seconds() / every_s)


class TickScheduler:
    """Wraps an APScheduler scheduler; `clock` is injected so tests and the demo can move time."""

    def __init__(self, scheduler: BaseScheduler, leader: Leadership, jobs: list[Job],
                 *, leader_ttl_ms: int, clock: Callable[[], datetime],
                 heartbeat: Callable[..., None] | None = None, on_leadership: tuple[str, ...] = ("sync_events",)):
        self.scheduler = scheduler
        self.leader = leader
        self.clock = clock
        self.jobs = {job.name: job for job in jobs}
        self.is_leader = False
        self.heartbeat = heartbeat
        self.on_leadership = tuple(name for name in on_leadership if name in self.jobs)
        renew_s = max(leader_ttl_ms / 3000, 0.05)
        scheduler.add_job(self._renew, IntervalTrigger(seconds=renew_s, timezone=timezone.utc),
                          id="leader-renew", max_instances=1, coalesce=True, next_run_time=clock())
        for job in jobs:
            scheduler.add_job(
                self._tick, IntervalTrigger(seconds=job.every_s, start_date=EPOCH, timezone=timezone.utc),
                args=[job.name], id=job.name, max_instances=1, coalesce=True,
                misfire_grace_time=max(1, job.every_s // 2),
            )

    def _renew(self) -> None:
        was = self.is_leader
        self.is_leader = self.leader.acquire_or_renew()
        if self.is_leader != was:
            log.info("leadership_changed", leader=self.is_leader)
        if self.heartbeat is not None:
            self.heartbeat(leader=self.is_leader)
        if self.is_leader and not was:
            for name in self.on_leadership:  # the first sync now, not at the next slot
                self._tick(name)

    def _tick(self, name: str) -> None:
        new_unit_of_work(job=name)
        job = self.jobs[name]
        if not self.leader.acquire_or_renew():
            self.is_leader = False
            return
        slot = slot_of(self.clock(), job.every_s)
        if not self.leader.claim_tick(name, slot, ttl_s=max(job.every_s * 10, 60)):
            return
        tick = (EPOCH.timestamp() + slot * job.every_s)
        tick_iso = datetime.fromtimestamp(tick, timezone.utc).isoformat()
        job.enqueue(tick_iso)
        log.info("job_enqueued", tick=tick_iso)

    def start(self) -> None:
        self.scheduler.start()

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.leader.release()
        stop = getattr(self.heartbeat, "__self__", None)
        if stop is not None and hasattr(stop, "stop"):
            stop.stop()


class Periodic(Protocol):
    """Where a job's tick goes: `worker.runtime.queue.Queue.periodic`."""

    def periodic(self, job: str, tick: str) -> None: ...


def standard_jobs(settings: Any, queue: Periodic) -> list[Job]:
    """The product's periodic work: poll events, reconcile daily, evaluate, measure, redeliver;
    each tick goes to `queue.periodic(name, tick)`."""
    every = {
        "sync_events": settings.sync_every,
        "full_reconcile": settings.reconcile_every,
        "evaluate": settings.evaluate_every,
        "measure": settings.measure_every,
        "redeliver": settings.redeliver_every,
    }
    return [Job(name, seconds, functools.partial(queue.periodic, name)) for name, seconds in every.items()]
