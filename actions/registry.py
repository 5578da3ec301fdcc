"""The explicit registry of action handlers, by the name used in rule files (`do: - webhook: …`)."""

from __future__ import annotations

from actions.base import ActionHandler

HANDLERS: dict[str, ActionHandler] = {}


def get_handler(name: str) -> ActionHandler | None:
    return HANDLERS.get(name)
