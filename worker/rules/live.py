"""The rules a long-running process uses now: reloaded when a file changes (wiring).

A process keeps the last loaded RuleSet per rules folder and re-reads the folder only when a
file's name, size or modification time changed (looked at no more than once a second of the
caller's clock). When an edit makes the rules invalid, the last valid rules keep serving and
the problems are logged — ops fix the file, nothing stops. Callers that key work on the rules
(the engine, `worker.automations.service.live_matcher`) see a new RuleSet object on reload.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from worker.errors import LifecycleError
from worker.logs import get_logger
from worker.rules.loader import load_rules, rule_environment
from worker.rules.model import RuleSet

log = get_logger("rules")
_lock = threading.Lock()
_rules: dict[Path, tuple[tuple | None, RuleSet, datetime]] = {}
RULES_CHECK_EVERY = timedelta(seconds=1)


def _signature(directory: Path) -> tuple:
    files = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml"))
    return tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in files)


def current_rules(settings: Any, now: datetime | None = None) -> RuleSet:
    """The rules in RULES_DIR now; reloaded only when a file changed (looked at no more than
    once per RULES_CHECK_EVERY of `now`; every call without `now`). Raises a LifecycleError
    (ConfigError / RuleFileError) when they cannot be read and no earlier version is known."""
    directory = Path(settings.rules_dir).resolve()
    with _lock:
        cached = _rules.get(directory)
        if cached is not None and now is not None and abs(now - cached[2]) < RULES_CHECK_EVERY:
            return cached[1]
        try:
            signature = _signature(directory)
        except OSError:
            signature = None
        if cached is not None and cached[0] == signature:
            _rules[directory] = (signature, cached[1], now or cached[2])
            return cached[1]
        try:
            rules = load_rules(directory, rule_environment())
        except LifecycleError as exc:
            if cached is None:
                raise
            problems = getattr(exc, "problems", None) or []
            log.error("rules_invalid_keeping_previous", error=" ".join([str(exc), *problems[:10]]),
                      problems=problems)
            return cached[1]
        _rules[directory] = (signature, rules, now or datetime.min.replace(tzinfo=UTC))
        return rules
