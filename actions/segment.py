"""`segment` action: Segment HTTP Tracking API `identify` (users) or `group` (accounts).

Traits are picked from `actions.traits` (stage, mrr, renewal_date, plan, status, …). The write
key is the HTTP basic-auth username (empty password), as Segment's HTTP API expects;
`messageId` is the delivery's idempotency key, so Segment deduplicates retries.
`group` needs a user: `user_id` when given, else an `anonymousId` derived from the group id.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator

from actions.base import ActionContext, ActionParams, ActionResult, PermanentFailure
from actions.fields import HttpURL, Template
from actions.http import seam_for
from actions.templates import render_param
from actions.traits import DEFAULT_TRAITS, TRAIT_NAMES, contact_traits, select
from worker.core.snapshot import iso
from worker.logs import register_secrets

DEFAULT_BASE_URL = "https://api.segment.io/v1"
TraitName = Literal[TRAIT_NAMES]  # type: ignore[valid-type]


class SegmentParams(ActionParams):
    write_key: SecretStr
    base_url: HttpURL = DEFAULT_BASE_URL
    call: Literal["auto", "identify", "group"] = "auto"  # auto: accounts → group, users → identify
    traits: list[TraitName] = Field(default_factory=lambda: list(DEFAULT_TRAITS))
    user_id: Template | None = None  # identify: default the contact id; group: optional
    group_id: Template = "{{ contact.contact_id }}"

    @field_validator("write_key")
    @classmethod
    def _non_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value


def _call(ctx: ActionContext, params: SegmentParams) -> str:
    if params.call != "auto":
        return params.call
    return "group" if ctx.contact.get("contact_type") == "account" else "identify"


def message(ctx: ActionContext, params: SegmentParams, call: str) -> dict[str, Any]:
    """The Segment message (without the write key)."""
    traits = select(contact_traits(ctx.contact, ctx.subscription), params.traits)
    body: dict[str, Any] = {
        "messageId": ctx.idempotency_key,
        "timestamp": iso(ctx.fired_at),
        "traits": traits,
        "context": {"library": {"name": "stripe-lifecycle"}},
    }
    user_id = render_param(ctx.render, "user_id", params.user_id) if params.user_id else None
    if call == "identify":
        body["userId"] = user_id or str(ctx.contact.get("contact_id") or "")
        if not body["userId"]:
            raise PermanentFailure("segment identify needs a user id: the contact has no id and no user_id is set")
        return body
    group_id = render_param(ctx.render, "group_id", params.group_id)
    if not group_id:
        raise PermanentFailure("segment group needs a group id: group_id rendered empty")
    body["groupId"] = group_id
    if user_id:
        body["userId"] = user_id
    else:
        body["anonymousId"] = f"stripe-lifecycle:{group_id}"
    return body


class SegmentHandler:
    name = "segment"
    Params = SegmentParams

    def run(self, ctx: ActionContext, params: SegmentParams) -> ActionResult:
        key = params.write_key.get_secret_value()
        register_secrets([key])
        call = _call(ctx, params)
        url = f"{params.base_url.rstrip('/')}/{call}"
        response = seam_for(ctx).post(url, what=f"Segment {call}", json=message(ctx, params, call),
                                      auth=(key, ""), secrets=[key])
        return ActionResult(detail=f"Segment {call} sent (HTTP {response.status_code})", status_code=response.status_code)


handler = SegmentHandler()
