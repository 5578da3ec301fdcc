"""Real worker processes for the multi-process delivery tests and the benchmark.

`WorkerPool` starts `dramatiq worker.tasks` processes (each in its own process group, so
kill -9 takes the dramatiq supervisor and its forked worker together); `Queue` talks to the
same Redis namespace from the test process (enqueue delivery ids, send reconciler ticks,
drop every key of the namespace = a Redis restart without persistence);
`fire_many` writes firings with their deliveries in bulk, as the evaluate step does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import dramatiq
import redis
from sqlalchemy import insert

from worker.delivery import action_idempotency_key, action_target
from worker.rules.model import RuleSet
from worker.runtime.broker import make_broker
from worker.store.db import Store
from worker.store.models import Delivery, Firing

REPO = Path(__file__).resolve().parents[2]


class WorkerPool:
    def __init__(self, env: dict[str, str], log_dir: Path, *, threads: int = 8):
        self.env = env
        self.log_dir = log_dir
        self.threads = threads
        self.procs: list[subprocess.Popen] = []

    def start(self, count: int) -> WorkerPool:
        for _ in range(count):
            index = len(self.procs)
            log = open(self.log_dir / f"worker-{index}.log", "wb")  # noqa: SIM115  (closed with the process)
            self.procs.append(subprocess.Popen(
                [sys.executable, "-m", "dramatiq", "worker.tasks", "--processes", "1",
                 "--threads", str(self.threads), "--queues", "deliver"],
                env=self.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            ))
        return self

    def kill(self, index: int) -> None:
        """kill -9 the whole worker (supervisor and forked worker process)."""
        os.killpg(self.procs[index].pid, signal.SIGKILL)
        self.procs[index].wait(10)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)

    def log(self, index: int) -> str:
        return (self.log_dir / f"worker-{index}.log").read_text(errors="replace")


class Queue:
    """The product's Redis queues under one namespace, seen from the test process."""

    def __init__(self, redis_url: str, namespace: str):
        self.namespace = namespace
        self.broker = make_broker(redis_url, namespace=namespace)
        self.client = redis.Redis.from_url(redis_url)

    def enqueue(self, delivery_id: int) -> None:
        self.broker.enqueue(dramatiq.Message(queue_name="deliver", actor_name="deliver", args=(delivery_id,),
                                             kwargs={}, options={}))

    def enqueue_batch(self, delivery_ids: list[int]) -> None:
        """One `deliver_batch` message for these ids, as the evaluate step sends them."""
        self.broker.enqueue(dramatiq.Message(queue_name="deliver", actor_name="deliver_batch",
                                             args=(list(delivery_ids),), kwargs={}, options={}))

    def tick_reconciler(self, now: datetime) -> None:
        """What the scheduler does every REDELIVER_EVERY seconds."""
        self.broker.enqueue(dramatiq.Message(queue_name="deliver", actor_name="redeliver",
                                             args=(now.isoformat(),), kwargs={}, options={}))

    def drop_all_keys(self) -> int:
        """Delete every key of this namespace: what a Redis restart without persistence loses."""
        keys = list(self.client.scan_iter(match=f"{self.namespace}*", count=1000))
        return self.client.delete(*keys) if keys else 0

    def close(self) -> None:
        self.drop_all_keys()
        self.broker.close()
        self.client.close()


def fire_many(store: Store, rules: RuleSet, count: int, at: datetime, *, automation: str = "hook",
              prefix: str = "c", batch: int = 1000) -> list[int]:
    """`count` firings of `automation` (one per contact) and their action deliveries, written in
    bulk (multi-row INSERTs) but with exactly the rows `create_action_deliveries` writes."""
    spec = rules.automation(automation)
    ids: list[int] = []
    for start in range(0, count, batch):
        contacts = [f"{prefix}{n}" for n in range(start, min(count, start + batch))]
        with store.session() as session:
            firing_ids = session.scalars(insert(Firing).returning(Firing.id, sort_by_parameter_order=True),
                                         [_firing(automation, c, at) for c in contacts]).all()
            rows = [{"firing_id": fid, "contact_id": contact, "kind": "action", "handler": action.handler,
                         "target": action_target(automation, index),
                         "idempotency_key": action_idempotency_key(fid, index),
                         "payload": {"automation": automation, "action_index": index}, "state": "pending",
                         "attempts": 0, "next_attempt_at": at, "created_at": at}
                    for fid, contact in zip(firing_ids, contacts) for index, action in enumerate(spec.actions)]
            ids.extend(session.scalars(insert(Delivery).returning(Delivery.id, sort_by_parameter_order=True), rows))
    return ids


def _firing(automation: str, contact_id: str, at: datetime) -> dict:
    contact = {"contact_id": contact_id, "contact_type": "account", "name": contact_id, "email": None,
               "stripe_customer_ids": [], "stage": "customer", "mrr": {"amount_minor": 1000, "currency": "usd"},
               "renewal_date": None, "subscriptions": []}
    return {"automation": automation, "contact_id": contact_id, "occurrence": f"stage_changed:{contact_id}:customer",
                "trigger": "stage_changed", "subscription_id": None, "arm": "treated", "fired_at": at, "stage": "customer",
                "mrr_minor": 1000, "currency": "usd", "renewal_date": None, "goal": None,
                "snapshot": {"contact": contact, "subscription": None}}
