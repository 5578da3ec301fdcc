"""`log` action: one structured log line for the firing, with a rendered `message` template.

Useful as a dry-run target and for ops who ship logs to their own tooling. The line goes
through the redacting log pipeline of `worker.logs`, like every other line.
"""

from __future__ import annotations

from typing import Literal

from actions.base import ActionContext, ActionParams, ActionResult
from actions.fields import Template
from actions.templates import render_param
from worker.logs import get_logger

DEFAULT_MESSAGE = "{{ automation }} fired for {{ contact.contact_id }} on {{ trigger }}"

logger = get_logger("actions.log")


class LogParams(ActionParams):
    message: Template = DEFAULT_MESSAGE
    level: Literal["info", "warning"] = "info"


class LogHandler:
    name = "log"
    Params = LogParams

    def run(self, ctx: ActionContext, params: LogParams) -> ActionResult:
        message = render_param(ctx.render, "message", params.message)
        emit = logger.warning if params.level == "warning" else logger.info
        emit(
            "automation action",
            automation=ctx.automation,
            contact_id=ctx.contact.get("contact_id"),
            trigger=ctx.trigger,
            occurrence=ctx.occurrence,
            arm=ctx.arm,
            idempotency_key=ctx.idempotency_key,
            message=message,
        )
        return ActionResult(detail="logged")


handler = LogHandler()
