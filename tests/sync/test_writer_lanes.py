"""Backfill writer lanes (worker.sync.writers) and the PostgreSQL array upsert (worker.sync.bulk):
order within a lane, a lane's error reaches the caller, pending work is bounded, and a batch
holding one key twice upserts like row-by-row writes did (the last row wins)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from worker.store.models import Contact
from worker.sync import bulk
from worker.sync.writers import Lanes


def test_each_lane_runs_its_work_in_order_and_lanes_run_side_by_side():
    done: dict[str, list[int]] = {"a": [], "b": []}
    both_running = threading.Barrier(2, timeout=10)
    lanes = Lanes(parallel=True, depth=2)
    lanes.submit("a", both_running.wait)  # passes only when lane b runs at the same time
    lanes.submit("b", both_running.wait)
    for i in range(20):
        for lane in ("a", "b"):
            lanes.submit(lane, lambda lane=lane, i=i: done[lane].append(i))
    lanes.close()
    assert done == {"a": list(range(20)), "b": list(range(20))}


def test_a_failing_lane_raises_in_the_caller_and_stops_the_rest():
    class Broken(Exception):
        pass

    def fail() -> None:
        raise Broken("lane a")

    ran: list[int] = []
    lanes = Lanes(parallel=True, depth=1)
    lanes.submit("a", fail)
    with pytest.raises(Broken):
        for i in range(1000):  # a later submit notices the failure
            lanes.submit("a", lambda i=i: ran.append(i))
        lanes.close()
    lanes.close(wait=False)
    assert len(ran) < 1000


def test_pending_work_per_lane_is_bounded():
    release, waiting, peak = threading.Event(), [0], [0]
    lock = threading.Lock()

    def work() -> None:
        release.wait(10)
        with lock:
            waiting[0] -= 1

    lanes = Lanes(parallel=True, depth=2)

    def produce() -> None:
        for _ in range(10):
            lanes.submit("a", work)
            with lock:
                waiting[0] += 1
                peak[0] = max(peak[0], waiting[0])

    producer = threading.Thread(target=produce)
    producer.start()
    producer.join(1.0)
    assert producer.is_alive() and peak[0] <= 2  # blocked with `depth` batches waiting
    release.set()
    producer.join(10)
    lanes.close()
    assert peak[0] <= 3


def test_without_parallel_work_runs_at_once_in_the_caller():
    seen: list[str] = []
    lanes = Lanes(parallel=False)
    lanes.submit("a", lambda: seen.append(threading.current_thread().name))
    assert seen == [threading.current_thread().name]
    lanes.close()


def test_a_batch_holding_one_key_twice_keeps_the_last_row(store):
    at = datetime(2026, 11, 1, tzinfo=UTC)
    rows = [{"id": "c1", "type": "account", "name": name, "email": None, "source": "stripe", "created_at": at,
             "updated_at": at} for name in ("first", "second")]
    with store.session() as session:
        bulk.upsert(session, Contact.__table__, rows)
    with store.session() as session:
        assert session.scalars(select(Contact.name)).all() == ["second"]
