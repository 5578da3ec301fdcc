"""`webhook` action: a signed JSON POST of the firing (PRODUCT.md §4).

Body: `{"automation", "trigger", "occurrence", "arm", "fired_at", "contact", "subscription"}`,
serialised once; the exact bytes sent are the bytes signed. With a `secret`, the header
`X-Lifecycle-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` is added, as
Stripe signs its webhooks; `t` is the send time (`ctx.now`), so a receiver can reject replays.
`Idempotency-Key` is always sent and is the same on every retry of one delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from pydantic import Field, SecretStr, field_validator

from actions.base import ActionContext, ActionParams, ActionResult
from actions.fields import HttpURL, Template
from actions.http import seam_for
from actions.templates import render_param
from worker.core.snapshot import iso
from worker.logs import register_secrets

SIGNATURE_HEADER = "X-Lifecycle-Signature"
RESERVED_HEADERS = frozenset({"content-type", "content-length", "host", "idempotency-key", SIGNATURE_HEADER.lower()})


class WebhookParams(ActionParams):
    url: HttpURL
    secret: SecretStr | None = None
    headers: dict[str, Template] = Field(default_factory=dict)

    @field_validator("headers")
    @classmethod
    def _no_reserved_headers(cls, value: dict[str, str]) -> dict[str, str]:
        clash = sorted(name for name in value if name.lower() in RESERVED_HEADERS)
        if clash:
            raise ValueError(f"header {clash[0]} is set by the webhook action itself")
        return value


def payload(ctx: ActionContext) -> dict[str, Any]:
    """The JSON body of PRODUCT.md §4 (internal `_…` contact fields left out)."""
    contact = {key: value for key, value in ctx.contact.items() if not key.startswith("_")}
    return {
        "automation": ctx.automation,
        "trigger": ctx.trigger,
        "occurrence": ctx.occurrence,
        "arm": ctx.arm,
        "fired_at": iso(ctx.fired_at),
        "contact": contact,
        "subscription": ctx.subscription,
    }


def _json_default(value: Any) -> Any:
    """Datetimes as ISO-8601 Z (like every product JSON shape), anything else (Decimal) as text."""
    if isinstance(value, datetime):
        return iso(value)
    return str(value)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-Lifecycle-Signature` value for `body` sent at `timestamp` (Unix seconds)."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class WebhookHandler:
    name = "webhook"
    Params = WebhookParams

    def run(self, ctx: ActionContext, params: WebhookParams) -> ActionResult:
        body = json.dumps(payload(ctx), separators=(",", ":"), ensure_ascii=False, default=_json_default).encode()
        headers = {name: render_param(ctx.render, f"headers.{name}", value) for name, value in params.headers.items()}
        headers.update({"Content-Type": "application/json", "Idempotency-Key": ctx.idempotency_key})
        secret = params.secret.get_secret_value() if params.secret else None
        if secret:
            register_secrets([secret])
            headers[SIGNATURE_HEADER] = sign(secret, int(ctx.now().timestamp()), body)
        response = seam_for(ctx).post(params.url, what="webhook", content=body, headers=headers, secrets=[secret])
        return ActionResult(detail=f"webhook delivered (HTTP {response.status_code})", status_code=response.status_code)


handler = WebhookHandler()
