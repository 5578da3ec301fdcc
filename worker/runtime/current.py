"""The process's `Runtime`, installed once by the process entry point (wiring).

    install_runtime(runtime)   # `run`, the worker boot, the scheduler, `web`, tests
    current_runtime()          # the actors: the installed one (or None before boot)

Only the actors of `worker.tasks` look it up: they are called by dramatiq with ids, not with
the runtime. Everything else receives its runtime as an argument.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from worker.runtime.runtime import Runtime

_lock = threading.Lock()
_current: Runtime | None = None


def install_runtime(runtime: Runtime | None) -> Runtime | None:
    """Make `runtime` the process's runtime (None uninstalls it); returns the previous one."""
    global _current
    with _lock:
        previous, _current = _current, runtime
        return previous


def current_runtime() -> Runtime | None:
    return _current
