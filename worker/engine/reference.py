"""The reference matcher: the meaning of `on`, `within`, `from`/`to` and `if:` in plain Python.

This is the oracle the durable_rules engine is checked against (a property-based test feeds
both the same random automations and occurrences and requires identical matches). Exact
arithmetic only: MRR compares as Decimal, windows in whole microseconds.

- `on`: the occurrence's trigger is the automation's.
- `within`: renewal_due / trial_ending need `seconds_until` ≤ within; past_due_for needs
  `seconds_since` ≥ within ("for at least"). Other triggers ignore it.
- `from` / `to`: the occurrence's from/to stage is one of the names (None = any).
- `if: stage`: the contact's stage is one of them; `mrr`: the comparison holds on the contact's
  MRR (major units, reporting currency); `plan`: any of the occurrence's plans is listed;
  `metadata.K`: the customer's metadata value for K is one of the listed strings.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable

from worker.core.occurrences import Occurrence
from worker.engine.interface import Match, MatcherClosed, by_trigger
from worker.rules.model import interval_token

_US = 1_000_000
_COMPARE = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
            ">": operator.gt, ">=": operator.ge}


def _micros(span) -> int:
    return span.days * 86_400 * _US + span.seconds * _US + span.microseconds


def within_holds(automation, occurrence: Occurrence) -> bool:
    if automation.within is None:
        return True
    if automation.on in ("renewal_due", "trial_ending"):
        seconds = occurrence.seconds_until
        return seconds is not None and seconds * _US <= _micros(automation.within)
    if automation.on == "past_due_for":
        seconds = occurrence.seconds_since
        return seconds is not None and seconds * _US >= _micros(automation.within)
    return True


def holds(automation, occurrence: Occurrence) -> bool:
    """Whether `automation` matches `occurrence`."""
    if automation.on != occurrence.trigger or not within_holds(automation, occurrence):
        return False
    if automation.from_ is not None and occurrence.from_stage not in automation.from_:
        return False
    if automation.to is not None and occurrence.to_stage not in automation.to:
        return False
    conditions = automation.conditions
    if conditions.stage is not None and occurrence.stage not in conditions.stage:
        return False
    if conditions.mrr is not None and not _COMPARE[conditions.mrr.op](occurrence.mrr, conditions.mrr.value):
        return False
    if conditions.plan is not None and not any(p in conditions.plan for p in occurrence.plans):
        return False
    if conditions.interval is not None and not any(interval_token(i) in occurrence.plans
                                                   for i in conditions.interval):
        return False
    return all(occurrence.metadata.get(key) in values for key, values in conditions.metadata.items())


class ReferenceMatcher:
    """Pure-Python matcher over a fixed tuple of automations."""

    def __init__(self, automations: Iterable) -> None:
        self.automations = tuple(automations)
        self._index = by_trigger(self.automations)
        self._closed = False

    def match(self, occurrences: Iterable[Occurrence]) -> list[Match]:
        if self._closed:
            raise MatcherClosed()
        found: list[Match] = []
        for occurrence in occurrences:
            for i in self._index.get(occurrence.trigger, ()):
                automation = self.automations[i]
                if holds(automation, occurrence):
                    found.append(Match(automation, occurrence))
        return found

    def close(self) -> None:
        self._closed = True
