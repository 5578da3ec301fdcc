"""Pages of several Stripe lists fetched at once, handed to one writer (wiring).

A backfill that read one endpoint after another, fetching and writing in one thread, used a
quarter of the allowed request rate (issue #18). `concurrent_pages` runs one fetching thread
per list (each waits on the shared limiter, which also holds Stripe's per-endpoint limit) and
yields `(kind, page)` to the caller's thread as pages arrive, so parsing and writing overlap
with fetching. At most `buffer` pages wait in memory: a writer that falls behind slows the
fetchers down instead of growing the process.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

_DONE = object()

Pages = Callable[[str, str | None], Iterator[list[Any]]]  # (kind, starting_after) -> pages


def concurrent_pages(pages: Pages, starts: Mapping[str, str | None], *, buffer: int = 40
                     ) -> Iterator[tuple[str, list[Any] | None]]:
    """(kind, page) for every page of every list in `starts` (kind → resume position), and
    (kind, None) once a list is complete. A fetching error is raised here, in the caller."""
    out: queue.Queue = queue.Queue(maxsize=max(1, buffer))
    stop = threading.Event()

    def fetch(kind: str, after: str | None) -> None:
        try:
            for page in pages(kind, after):
                if not _put(out, (kind, page), stop):
                    return
            _put(out, (kind, _DONE), stop)
        except BaseException as exc:  # noqa: BLE001  (handed to the caller's thread)
            _put(out, (kind, exc), stop)

    threads = [threading.Thread(target=fetch, args=(kind, after), daemon=True, name=f"backfill-{kind}")
               for kind, after in starts.items()]
    for thread in threads:
        thread.start()
    running = len(threads)
    try:
        while running:
            kind, item = out.get()
            if item is _DONE:
                running -= 1
                yield kind, None
            elif isinstance(item, BaseException):
                raise item
            else:
                yield kind, item
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)


def _put(out: queue.Queue, item: tuple, stop: threading.Event) -> bool:
    """Put unless the consumer stopped (an error, or a generator closed early)."""
    while not stop.is_set():
        try:
            out.put(item, timeout=0.2)
            return True
        except queue.Full:
            continue
    return False
