"""Rules engine (adapter): match trigger occurrences against automations.

    matcher = build_matcher(rules.automations)          # durable_rules (default)
    matcher = build_matcher(rules.automations, "reference")
    matches = matcher.match(occurrences)                # list[Match(automation, occurrence)]
    live = LiveMatcher(matcher_factory("durable"), rules.automations); live.reload(new_rules)

See docs/engine.md for the semantics and why durable_rules is used the way it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal

from worker.engine.compile import EngineError
from worker.engine.interface import Match, Matcher, MatcherClosed
from worker.engine.live import LiveMatcher
from worker.engine.reference import ReferenceMatcher

Kind = Literal["durable", "reference"]

__all__ = ["EngineError", "LiveMatcher", "Match", "Matcher", "MatcherClosed", "ReferenceMatcher",
           "build_matcher", "matcher_factory"]


def build_matcher(automations: Iterable, kind: Kind = "durable") -> Matcher:
    """A matcher for `automations` (a fixed tuple; build a new one to change them)."""
    if kind == "reference":
        return ReferenceMatcher(automations)
    if kind == "durable":
        from worker.engine.durable import DurableMatcher  # noqa: PLC0415  (the C extension loads on first use)

        return DurableMatcher(automations)
    raise ValueError(f"unknown engine {kind!r}: use 'durable' or 'reference'")


def matcher_factory(kind: Kind = "durable") -> Callable[[Iterable], Matcher]:
    return lambda automations: build_matcher(automations, kind)
