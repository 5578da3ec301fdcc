"""`slack` action: a message to a Slack incoming webhook (`text`, optional Block Kit `blocks`).

The webhook URL is itself the credential (its path holds the token), so it is masked in every
message and only the host is ever named. Strings inside `blocks` are templates too.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr, field_validator

from actions.base import ActionContext, ActionParams, ActionResult
from actions.fields import RequiredTemplate
from actions.http import seam_for
from actions.templates import check_template, render_param, render_tree
from worker.logs import register_secrets


class SlackParams(ActionParams):
    webhook_url: SecretStr
    text: RequiredTemplate
    blocks: list[dict[str, Any]] | None = None

    @field_validator("webhook_url")
    @classmethod
    def _http_url(cls, value: SecretStr) -> SecretStr:
        parts = urlsplit(value.get_secret_value().strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL (a Slack incoming webhook URL)")
        return value

    @field_validator("blocks")
    @classmethod
    def _block_templates(cls, value: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        for problem in _template_problems(value):
            raise ValueError(f"in blocks: {problem}")
        return value


def _template_problems(value: Any):
    if isinstance(value, str):
        problem = check_template(value)
        if problem:
            yield problem
    elif isinstance(value, list):
        for item in value:
            yield from _template_problems(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _template_problems(item)


class SlackHandler:
    name = "slack"
    Params = SlackParams

    def run(self, ctx: ActionContext, params: SlackParams) -> ActionResult:
        url = params.webhook_url.get_secret_value().strip()
        path = urlsplit(url).path
        register_secrets([url])
        body: dict[str, Any] = {"text": render_param(ctx.render, "text", params.text)}
        if params.blocks is not None:
            body["blocks"] = render_tree(ctx.render, "blocks", params.blocks)
        response = seam_for(ctx).post(url, what="Slack message", json=body, secrets=[url, path])
        return ActionResult(detail=f"Slack message posted (HTTP {response.status_code})", status_code=response.status_code)


handler = SlackHandler()
