"""What a dry run's firings would send: each action's parameters, rendered (wiring).

`evaluate --dry-run` lists the firings; this renders each treated firing's actions with the
same sandboxed templates a delivery uses, from the same contact and subscription, so ops see
the Slack text, the email subject or the HubSpot properties before anything is sent. Secret
parameters (tokens, signing secrets) are masked by their type, and every `${ENV}` value and
key shape by `redact`, so a preview can be pasted into a ticket.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from actions.base import ActionContext, PermanentFailure
from actions.templates import make_renderer, render_tree
from worker.automations.firing import Fired
from worker.core.snapshot import iso
from worker.logs import MASK, redact
from worker.rules.model import RuleSet


def _body(handler: str, ctx: ActionContext, params: Any) -> Any:
    """What the handler itself would send, for those that build it apart from their params."""
    if handler == "webhook":
        from actions import webhook  # noqa: PLC0415

        return json.loads(json.dumps(webhook.payload(ctx), default=str))
    if handler == "hubspot":
        from actions import hubspot  # noqa: PLC0415

        return {"properties": hubspot.properties(ctx, params)}
    if handler == "segment":
        from actions import segment  # noqa: PLC0415

        return json.loads(json.dumps(segment.message(ctx, params, segment._call(ctx, params)), default=str))
    return None


def action_previews(rules: RuleSet, fired: Fired, now: datetime) -> list[dict[str, Any]]:
    """[{"handler", "params"[, "body"]} | {"handler", "error"}] per action; [] for the holdout
    arm. `body` is what `webhook`, `hubspot` and `segment` build from the firing (the webhook's
    JSON body, the HubSpot properties, the Segment message)."""
    if fired.arm != "treated":
        return []
    automation = rules.automation(fired.automation)
    context = fired.context or {"contact": {}, "subscription": None}
    render = make_renderer({**context, "automation": fired.automation, "trigger": fired.trigger,
                            "occurrence": fired.occurrence, "arm": fired.arm, "fired_at": iso(now)})
    ctx = ActionContext.build(automation=fired.automation, trigger=fired.trigger, occurrence=fired.occurrence,
                              arm=fired.arm, fired_at=now, contact=context["contact"] or {},
                              subscription=context["subscription"], idempotency_key="(dry run)")
    previews = []
    for spec in automation.actions:
        params = spec.params.model_dump(mode="json", by_alias=True, exclude_none=True)
        try:
            shown: dict[str, Any] = {"handler": spec.handler, "params": render_tree(render, spec.handler, params)}
            body = _body(spec.handler, ctx, spec.params)
            if body is not None:
                shown["body"] = body
        except PermanentFailure as exc:
            shown = {"handler": spec.handler, "error": str(exc)}
        text = json.dumps(shown).replace('"**********"', f'"{MASK}"')  # pydantic's SecretStr mask → ours
        previews.append(json.loads(redact(text)))
    return previews
