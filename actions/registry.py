"""The explicit registry of action handlers, by the name used in rule files (`do: - webhook: …`).

One entry per handler module; adding a handler means adding its module and one line here.
The rule loader validates params with `get_handler(name).Params.model_validate(raw)`; the
delivery layer runs `handler.run(ctx, handler.Params.model_validate(raw))`.
"""

from __future__ import annotations

from actions import email, hubspot, log, segment, slack, webhook
from typing import Any

from actions.base import ActionHandler

HANDLERS: dict[str, ActionHandler[Any]] = {
    "webhook": webhook.handler,
    "slack": slack.handler,
    "email": email.handler,
    "hubspot": hubspot.handler,
    "segment": segment.handler,
    "log": log.handler,
}


def get_handler(name: str) -> ActionHandler[Any] | None:
    """The handler registered under `name`, or None (the rule loader reports unknown actions)."""
    return HANDLERS.get(name)


def handler_names() -> list[str]:
    return sorted(HANDLERS)
