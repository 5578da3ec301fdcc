"""Lifecycle stages from `stages.yaml` (pure core), PRODUCT.md §4.

A subscription matches a stage when its status is listed under it. A contact's stage is the
first stage in `precedence` that any of its subscriptions matches; no match → no stage (None).
`StageRules` compiles the config once into status → best precedence rank, so staging a
contact is one pass over its statuses.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from worker.rules.model import StagesConfig


@dataclass(frozen=True)
class StageRules:
    precedence: tuple[str, ...]
    statuses: dict[str, frozenset[str]]  # stage → the statuses listed under it
    rank_of_status: dict[str, int]  # status → index in `precedence` of its best stage

    @classmethod
    def compile(cls, config: StagesConfig) -> StageRules:
        precedence = tuple(config.precedence) or tuple(config.stages)
        statuses = {name: frozenset(stage.status) for name, stage in config.stages.items()}
        ranks: dict[str, int] = {}
        for rank, name in enumerate(precedence):
            for status in sorted(statuses.get(name, ())):
                ranks.setdefault(status, rank)
        return cls(precedence, statuses, ranks)

    def stage(self, statuses: Iterable[str]) -> str | None:
        """The contact's stage for its subscriptions' statuses, or None."""
        ranks, best = self.rank_of_status, None
        for status in statuses:  # a plain loop: this runs once per contact in every evaluation
            rank = ranks.get(status)
            if rank is not None and (best is None or rank < best):
                best = rank
        return None if best is None else self.precedence[best]

    def matches(self, status: str) -> list[str]:
        """Every stage one subscription status matches, in precedence order (for --explain)."""
        return [name for name in self.precedence if status in self.statuses.get(name, ())]


def contact_stage(statuses: Iterable[str], config: StagesConfig) -> str | None:
    """One-off convenience: compile `config` and stage one contact."""
    return StageRules.compile(config).stage(statuses)
