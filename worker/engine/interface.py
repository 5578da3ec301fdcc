"""The matcher interface every engine implements (engine adapter layer).

`Matcher.match(occurrences)` returns, in order, one `Match` per (occurrence, automation) that
holds: occurrences in the order given, and for each the automations in definition order. A
matcher is built for one tuple of automations and never changes; a rule reload builds a new
one (see `worker.engine.live`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from worker.core.occurrences import Occurrence
from worker.errors import LifecycleError


@dataclass(frozen=True, eq=False)
class Match:
    """An automation whose trigger and conditions hold for an occurrence."""

    automation: object  # worker.rules.model.Automation
    occurrence: Occurrence

    @property
    def key(self) -> tuple[str, str, str]:
        """(automation name, contact id, occurrence key): what fires at most once, ever."""
        return (self.automation.name, self.occurrence.contact_id, self.occurrence.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Match) and self.key == other.key and self.occurrence == other.occurrence

    def __hash__(self) -> int:
        return hash(self.key)


class MatcherClosed(LifecycleError):
    """The matcher was retired by a rule reload; ask the live matcher again."""

    def __init__(self) -> None:
        super().__init__("This rules engine instance was replaced by a rule reload.", retryable=True)


class Matcher(Protocol):
    automations: tuple

    def match(self, occurrences: Iterable[Occurrence]) -> list[Match]: ...

    def close(self) -> None: ...


def by_trigger(automations: tuple) -> dict[str, list[int]]:
    """Trigger name → indexes of the automations listening to it, in definition order."""
    index: dict[str, list[int]] = {}
    for i, automation in enumerate(automations):
        index.setdefault(automation.on, []).append(i)
    return index
