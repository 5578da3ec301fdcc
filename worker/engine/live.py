"""The live matcher: the one the worker calls, swapped whole on a rule reload (engine adapter).

`reload(automations)` builds the new matcher completely (a new durable_rules Host) while the
old one keeps serving; only when the build succeeded is the reference swapped and the old
matcher closed. A build that fails raises and leaves the old rules running. A `match` call
that was answered partly by the old matcher when it closed (`MatcherClosed`) is re-run whole
on the new one, so every batch is matched by one generation of rules.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from worker.core.occurrences import Occurrence
from worker.engine.interface import Match, Matcher, MatcherClosed


class LiveMatcher:
    def __init__(self, factory: Callable[[Iterable], Matcher], automations: Iterable) -> None:
        self._factory = factory
        self._reload_lock = threading.Lock()
        self._current = factory(tuple(automations))
        self.generation = 1

    @property
    def automations(self) -> tuple:
        return self._current.automations

    def match(self, occurrences: Iterable[Occurrence]) -> list[Match]:
        batch = list(occurrences)
        while True:
            matcher = self._current
            try:
                return matcher.match(batch)
            except MatcherClosed:
                if matcher is self._current:  # closed without a replacement: a real error
                    raise

    def reload(self, automations: Iterable) -> None:
        """Build a matcher for `automations`, then swap it in and retire the old one."""
        with self._reload_lock:
            fresh = self._factory(tuple(automations))  # raises: the old matcher stays
            old, self._current = self._current, fresh
            self.generation += 1
            old.close()

    def close(self) -> None:
        self._current.close()
