"""Backfill batches written on one thread per list kind (wiring).

With one writer the database's work and ours took turns: while PostgreSQL inserted a batch,
the process waited, and while the process validated and built the next batch, PostgreSQL sat
idle, so a 30,000-customer backfill took twice the time the allowed request rate needs (issue
#18). `Lanes` runs each lane's batches in order on a thread of its own (the backfill gives each
list kind two lanes): one batch's wait on the database overlaps another's Python work.
At most `depth` batches wait per lane, so a slow database slows the fetchers down instead of
growing the process. A lane's error is raised in the caller at its next `submit` or at
`close`. With `parallel=False` (SQLite: one writer at a time anyway) `submit` runs the batch
at once in the caller's thread, as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor


class Lanes:
    """One ordered writer thread per lane name; bounded; errors surface in the caller."""

    def __init__(self, *, parallel: bool, depth: int = 2) -> None:
        self.parallel = parallel
        self.depth = max(1, depth)
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._futures: list[Future] = []

    def submit(self, lane: str, work: Callable[[], None]) -> None:
        """Run `work` after the lane's earlier work (now, when not parallel)."""
        self.raise_failure()
        if not self.parallel:
            work()
            return
        if lane not in self._pools:
            self._pools[lane] = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"backfill-write-{lane}")
            self._slots[lane] = threading.BoundedSemaphore(self.depth)
        slot = self._slots[lane]
        while not slot.acquire(timeout=0.5):  # the lane is full: wait, but notice another lane failing
            self.raise_failure()
        future = self._pools[lane].submit(work)
        future.add_done_callback(lambda _f: slot.release())
        self._futures.append(future)
        self._futures = [f for f in self._futures if not f.done() or f.exception() is not None]

    def raise_failure(self) -> None:
        for future in self._futures:
            if future.done() and future.exception() is not None:
                raise future.exception()  # type: ignore[misc]

    def close(self, *, wait: bool = True) -> None:
        """Wait for every lane (raising the first error), or, after an error, just stop them."""
        try:
            if wait:
                for future in list(self._futures):
                    future.result()
        finally:
            for pool in self._pools.values():
                pool.shutdown(wait=True, cancel_futures=not wait)
