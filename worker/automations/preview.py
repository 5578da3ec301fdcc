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

from actions.base import PermanentFailure
from actions.templates import make_renderer, render_tree
from worker.automations.firing import Fired
from worker.core.snapshot import iso
from worker.logs import MASK, redact
from worker.rules.model import RuleSet


def action_previews(rules: RuleSet, fired: Fired, now: datetime) -> list[dict[str, Any]]:
    """[{"handler", "params"} | {"handler", "error"}] per action; [] for the holdout arm."""
    if fired.arm != "treated":
        return []
    automation = rules.automation(fired.automation)
    context = fired.context or {"contact": {}, "subscription": None}
    render = make_renderer({**context, "automation": fired.automation, "trigger": fired.trigger,
                            "occurrence": fired.occurrence, "arm": fired.arm, "fired_at": iso(now)})
    previews = []
    for spec in automation.actions:
        params = spec.params.model_dump(mode="json", by_alias=True, exclude_none=True)
        try:
            shown: dict[str, Any] = {"handler": spec.handler, "params": render_tree(render, spec.handler, params)}
        except PermanentFailure as exc:
            shown = {"handler": spec.handler, "error": str(exc)}
        text = json.dumps(shown).replace('"**********"', f'"{MASK}"')  # pydantic's SecretStr mask → ours
        previews.append(json.loads(redact(text)))
    return previews
