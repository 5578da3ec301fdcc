"""The rules a long-running process uses now: reloaded when a file changes (wiring).

A `LiveRules` (one per `Runtime`, so one per process) keeps the last loaded RuleSet of its
rules folder and re-reads the folder only when a file's name, size or modification time
changed (looked at no more than once a second of the caller's clock). When an edit makes the
rules invalid, the last valid rules keep serving and the problems are logged — ops fix the
file, nothing stops. Callers that key work on the rules (the live matcher of
`worker.runtime.runtime.Runtime`) see a new RuleSet object on reload. The files are read by
the one loader, `worker.rules.loader.load_rules` (environment over `.env`).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from worker.errors import LifecycleError
from worker.logs import get_logger
from worker.rules.loader import load_rules
from worker.rules.model import RuleSet

log = get_logger("rules")
RULES_CHECK_EVERY = timedelta(seconds=1)
Signature = tuple[tuple[str, int, int], ...] | None


def _signature(directory: Path) -> Signature:
    files = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml"))
    return tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in files)


class LiveRules:
    """The current rules of one folder, reloaded on change, the last good ones kept."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory).resolve()
        self._lock = threading.Lock()
        self._cached: tuple[Signature, RuleSet, datetime] | None = None

    def current(self, now: datetime | None = None) -> RuleSet:
        """The rules now; reloaded only when a file changed (looked at no more than once per
        RULES_CHECK_EVERY of `now`; every call without `now`). Raises a LifecycleError
        (ConfigError / RuleFileError) when they cannot be read and no earlier version is known."""
        with self._lock:
            cached = self._cached
            if cached is not None and now is not None and abs(now - cached[2]) < RULES_CHECK_EVERY:
                return cached[1]
            try:
                signature = _signature(self.directory)
            except OSError:
                signature = None
            if cached is not None and cached[0] == signature:
                self._cached = (signature, cached[1], now or cached[2])
                return cached[1]
            try:
                rules = load_rules(self.directory)
            except LifecycleError as exc:
                if cached is None:
                    raise
                problems = getattr(exc, "problems", None) or []
                log.error("rules_invalid_keeping_previous", error=" ".join([str(exc), *problems[:10]]),
                          problems=problems)
                return cached[1]
            self._cached = (signature, rules, now or datetime.min.replace(tzinfo=UTC))
            return rules
