"""The `Queue` port: how a use-case asks for more work (wiring).

    runtime.queue.evaluate(now)                 # a full sync: evaluate everyone soon
    runtime.queue.evaluate_changes(now)         # contacts were queued: a changes pass soon
    runtime.queue.refetch("customer", "cus_1", received_at, event_id="evt_1")  # a webhook said an object changed
    runtime.queue.deliver(delivery_id, delay_s) # one delivery row (a retry or an order wait)
    runtime.queue.deliver_many([id, id, …])     # rows of one batch
    runtime.queue.periodic("sync_events", tick) # the scheduler's tick of a job

Two implementations:

- `DramatiqQueue(actors)`: a message to the dramatiq actors of `worker.tasks` (Redis in
  production, the in-process StubBroker of `run` without REDIS_URL). Messages carry only ids
  and times; the database stays the source of truth.
- `InlineQueue()`: the work runs now, in the caller (CLI commands, the demo, a stand-alone
  embedded `web`, tests). `in_process` is true: evaluate and the reconciler then deliver every
  due row themselves instead of sending messages, and a delayed delivery simply waits in its
  row for the next pass.

A queue is bound to its `Runtime` (`bind`), which the inline queue passes to the use-cases.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from worker.automations import service as evaluation
from worker.delivery import service as delivery
from worker.store.models import DEFAULT_ACCOUNT
from worker.sync import service as sync

if TYPE_CHECKING:
    from worker.runtime.runtime import Runtime

PERIODIC_JOBS = ("sync_events", "full_reconcile", "evaluate", "measure", "redeliver")
#: How long a changes pass waits, so the changes of a burst (webhooks, an events page) are one pass.
COALESCE_MS = 250


class Queue(Protocol):
    """The port the use-cases enqueue through (see the module docstring)."""

    in_process: bool

    def bind(self, runtime: Runtime) -> None: ...

    def evaluate(self, tick: datetime) -> None: ...

    def evaluate_changes(self, tick: datetime) -> None: ...

    def refetch(self, object_type: str, object_id: str, received_at: datetime | None = None,
                account: str = DEFAULT_ACCOUNT, *, event_id: str | None = None) -> None: ...

    def sync_account(self, account: str, tick: datetime, *, full: bool) -> None: ...

    def deliver(self, delivery_id: int, delay_s: float = 0.0) -> None: ...

    def deliver_many(self, delivery_ids: list[int]) -> None: ...

    def periodic(self, job: str, tick: str) -> None: ...


class DramatiqQueue:
    """Messages to the actors (by actor name: `worker.tasks.ACTORS`)."""

    in_process = False

    def __init__(self, actors: Mapping[str, Any]) -> None:
        self.actors = actors

    def bind(self, runtime: Runtime) -> None:
        """Nothing to keep: the actors reach the process's runtime themselves."""

    def evaluate(self, tick: datetime) -> None:
        self.actors["evaluate"].send(tick=tick.isoformat())

    def evaluate_changes(self, tick: datetime) -> None:
        self.actors["evaluate_changes"].send_with_options(kwargs={"tick": tick.isoformat()}, delay=COALESCE_MS)

    def refetch(self, object_type: str, object_id: str, received_at: datetime | None = None,
                account: str = DEFAULT_ACCOUNT, *, event_id: str | None = None) -> None:
        at = received_at.isoformat() if received_at else None
        if event_id is not None:  # the event id rides as the fifth argument (older messages have none)
            self.actors["refetch"].send(object_type, object_id, at, account, event_id)
        elif account == DEFAULT_ACCOUNT:  # the message of before accounts: a queue of old workers reads it
            self.actors["refetch"].send(object_type, object_id, at)
        else:
            self.actors["refetch"].send(object_type, object_id, at, account)

    def sync_account(self, account: str, tick: datetime, *, full: bool) -> None:
        self.actors["sync_account"].send(account, tick.isoformat(), full)

    def deliver(self, delivery_id: int, delay_s: float = 0.0) -> None:
        if delay_s > 0:
            self.actors["deliver"].send_with_options(args=(delivery_id,), delay=int(delay_s * 1000))
        else:
            self.actors["deliver"].send(delivery_id)

    def deliver_many(self, delivery_ids: list[int]) -> None:
        self.actors["deliver_batch"].send(list(delivery_ids))

    def periodic(self, job: str, tick: str) -> None:
        self.actors[job].send(tick=tick)


class InlineQueue:
    """The work runs now, in the caller, with the bound runtime."""

    in_process = True

    def __init__(self) -> None:
        self._runtime: Runtime | None = None

    def bind(self, runtime: Runtime) -> None:
        self._runtime = runtime

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("InlineQueue used before a Runtime was built around it")
        return self._runtime

    def evaluate(self, tick: datetime) -> None:
        evaluation.evaluate_job(self.runtime, tick)

    def evaluate_changes(self, tick: datetime) -> None:
        evaluation.run_evaluation(self.runtime, tick, changes_only=True)

    def refetch(self, object_type: str, object_id: str, received_at: datetime | None = None,
                account: str = DEFAULT_ACCOUNT, *, event_id: str | None = None) -> None:
        sync.refetch_job(self.runtime, object_type, object_id, self.runtime.clock(), received_at, account,
                         event_id=event_id)

    def sync_account(self, account: str, tick: datetime, *, full: bool) -> None:
        sync.sync_account_job(self.runtime, account, tick, full=full)

    def deliver(self, delivery_id: int, delay_s: float = 0.0) -> None:
        if delay_s <= 0:  # a later one waits in its row (due at next_attempt_at) for the next pass
            delivery.deliver(self.runtime, [delivery_id], self.runtime.clock())

    def deliver_many(self, delivery_ids: Sequence[int]) -> None:
        delivery.deliver(self.runtime, list(delivery_ids), self.runtime.clock())

    def periodic(self, job: str, tick: str) -> None:
        run_job(self.runtime, job, datetime.fromisoformat(tick))


def run_job(runtime: Runtime, job: str, now: datetime) -> None:
    """One periodic job's use-case, as of `now` (what the actors and the inline queue run)."""
    if job == "sync_events":
        sync.sync_job(runtime, now, full=False)
    elif job == "full_reconcile":
        sync.sync_job(runtime, now, full=True)
    elif job == "evaluate":
        evaluation.evaluate_job(runtime, now)
    elif job == "measure":
        evaluation.measure_job(runtime, now)
    elif job == "redeliver":
        delivery.reconcile(runtime, now)
    else:
        raise ValueError(f"unknown periodic job {job!r}; expected one of {', '.join(PERIODIC_JOBS)}")
