"""The scheduler starts the first sync at once when it becomes leader (issue 16, point 9),
not at the next SYNC_EVERY slot, and reports a heartbeat with its leadership on each renewal.
(The real process does the same in tests/operations/test_production_stack.py, SYNC_EVERY=1 h.)"""

from __future__ import annotations

from datetime import datetime, timezone

from apscheduler.schedulers.background import BackgroundScheduler

from worker.runtime.scheduler import Job, TickScheduler

NOW = datetime(2026, 12, 1, 12, 0, 30, tzinfo=timezone.utc)


class FlakyLeader:
    """Leader when `leading` says so; every tick claim succeeds once per (job, slot)."""

    def __init__(self):
        self.leading = False
        self.claimed: set[tuple[str, int]] = set()

    def acquire_or_renew(self) -> bool:
        return self.leading

    def release(self) -> None:
        pass

    def claim_tick(self, job: str, slot: int, ttl_s: int) -> bool:
        if (job, slot) in self.claimed:
            return False
        self.claimed.add((job, slot))
        return True


def test_becoming_leader_enqueues_a_sync_at_once_and_only_once():
    sent: list[tuple[str, str]] = []
    beats: list[dict] = []
    leader = FlakyLeader()
    jobs = [Job("sync_events", 3600, lambda tick: sent.append(("sync_events", tick))),
            Job("evaluate", 900, lambda tick: sent.append(("evaluate", tick)))]
    scheduler = TickScheduler(BackgroundScheduler(timezone=timezone.utc), leader, jobs, leader_ttl_ms=10_000,
                              clock=lambda: NOW, heartbeat=lambda **facts: beats.append(facts))
    scheduler._renew()  # stand-by: nothing
    assert sent == [] and beats[-1] == {"leader": False}
    leader.leading = True
    scheduler._renew()  # became leader: the sync starts now
    assert sent == [("sync_events", "2026-12-01T12:00:00+00:00")]
    scheduler._renew()  # still leader: no second sync
    assert len(sent) == 1 and beats[-1] == {"leader": True}
