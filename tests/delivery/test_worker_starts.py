"""A freshly started worker is never broken for good (issue 15, item 1): everything a worker
runs is imported at dramatiq's process boot, before its threads start.

Before, actors imported SQLAlchemy-using modules lazily; when a new worker's first messages ran
on several threads at once, a half-initialised module could be left behind and every later
message failed (`module 'sqlalchemy.sql' has no attribute 'base'`) — 2 of 6 starts in a live
run. Here a real `dramatiq worker.tasks` process (4 threads, Redis, PostgreSQL) is started
many times, each time with a backlog waiting for it on every queue it serves (single and batch
deliveries, an evaluation, a measure tick), and every start must process all of it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from tests.conftest import clean_env
from tests.delivery.conftest import HOOK_SECRET
from tests.delivery.workers import REPO, Queue, fire_many
from worker.store.db import open_store
from worker.store.models import Delivery

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]
STARTS = 8
THREADS = 4
FIRINGS_PER_START = 12
BOOT_AND_BACKLOG_S = 90


def _delivered(store, ids: list[int]) -> int:
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(Delivery)
                              .where(Delivery.id.in_(ids), Delivery.state == "delivered"))


def _events(log: str) -> list[dict]:
    return [json.loads(line) for line in log.splitlines() if line.startswith("{")]


def _start(env: dict[str, str], log_path) -> subprocess.Popen:
    with open(log_path, "wb") as log:
        return subprocess.Popen([sys.executable, "-m", "dramatiq", "worker.tasks", "--processes", "1",
                                 "--threads", str(THREADS)],
                                env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def test_every_fresh_worker_processes_the_backlog_waiting_for_it(postgres_url, redis_url, redis_namespace,
                                                                 rules_dir, rules, sink, tmp_path):
    store = open_store(postgres_url)
    queue = Queue(redis_url, redis_namespace)
    env = clean_env(DATABASE_URL=postgres_url, REDIS_URL=redis_url, REDIS_NAMESPACE=redis_namespace,
                    RULES_DIR=str(rules_dir), HOOK_SECRET=HOOK_SECRET, LOG_LEVEL="info")
    failed = []
    try:
        for start in range(STARTS):
            now = datetime.now(UTC)
            ids = fire_many(store, rules, FIRINGS_PER_START, now, prefix=f"start{start}-")
            half = len(ids) // 2
            for delivery_id in ids[:half]:
                queue.enqueue(delivery_id)       # single `deliver` messages
            queue.enqueue_batch(ids[half:])      # one `deliver_batch` message
            for actor in ("evaluate", "measure"):
                queue.broker.enqueue(_tick(actor, now))
            log_path = tmp_path / f"worker-{start}.log"
            proc = _start(env, log_path)
            try:
                done = _wait(lambda: _delivered(store, ids) == len(ids) and _ran(log_path), proc)
            finally:
                _stop(proc)
            log = log_path.read_text(errors="replace")
            if not done or "Traceback" in log or '"job_failed"' in log:
                errors = [line for line in log.splitlines() if "rror" in line or "Traceback" in line]
                failed.append((start, _delivered(store, ids), len(ids), "\n".join(errors[:20]) or log[-2500:]))
    finally:
        queue.close()
        store.engine.dispose()
    assert failed == [], "\n\n".join(f"start {s}: {d}/{n} delivered\n{log}" for s, d, n, log in failed)


def _tick(actor: str, now: datetime):
    import dramatiq

    return dramatiq.Message(queue_name="evaluate", actor_name=actor, args=(), kwargs={"tick": now.isoformat()},
                            options={})


def _ran(log_path) -> bool:
    events = {e.get("event") for e in _events(log_path.read_text(errors="replace"))}
    return {"evaluated", "measured"} <= events


def _wait(predicate, proc: subprocess.Popen) -> bool:
    deadline = time.monotonic() + BOOT_AND_BACKLOG_S
    while time.monotonic() < deadline:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.2)
    return False
