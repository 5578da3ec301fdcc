"""What every action handler is: typed params (checked when rules load) and `run(ctx, params)`.

Params models hold the *unrendered* values from the rule file: strings may contain Jinja2
templates (`{{ contact.name }}`), rendered at send time by `ActionContext.render`. `${ENV}`
references are already substituted by the rule loader. Failures are classified: a
`PermanentFailure` (4xx, bad parameters) is not retried; a `TransientFailure` (timeouts, 5xx,
429) is, honouring `retry_after` when the receiver gave one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict


class ActionParams(BaseModel):
    """Base of every handler's params. Inputs are hidden from validation errors (secrets)."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


def utc_now() -> datetime:
    """The real clock; the default `ActionContext.now` (the send time, e.g. for signatures)."""
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class ActionContext:
    """Everything a handler may use; built by the delivery layer for one delivery."""

    automation: str
    trigger: str
    occurrence: str
    arm: str
    fired_at: datetime
    contact: dict[str, Any]  # as in `accounts --json`
    subscription: dict[str, Any] | None
    idempotency_key: str  # stable across retries of this delivery
    render: Callable[[str], str]  # sandboxed Jinja2 over contact/subscription/automation/trigger
    settings: Any = None  # worker.settings.Settings (SMTP_URL etc.)
    extra: dict[str, Any] = field(default_factory=dict)
    now: Callable[[], datetime] = utc_now  # send-time clock (webhook signature `t`, email Date)
    http: Any = None  # an `actions.http.HttpSeam`; None = the process-wide default

    @classmethod
    def build(
        cls,
        *,
        automation: str,
        trigger: str,
        occurrence: str,
        arm: str,
        fired_at: datetime,
        contact: dict[str, Any],
        subscription: dict[str, Any] | None,
        idempotency_key: str,
        **rest: Any,
    ) -> ActionContext:
        """A context whose `render` is the sandboxed renderer over this firing's data."""
        from actions.templates import make_renderer  # templates imports this module

        render = make_renderer(
            {"contact": contact, "subscription": subscription, "automation": automation, "trigger": trigger,
             "occurrence": occurrence, "arm": arm, "fired_at": fired_at}
        )
        return cls(
            automation=automation, trigger=trigger, occurrence=occurrence, arm=arm, fired_at=fired_at,
            contact=contact, subscription=subscription, idempotency_key=idempotency_key, render=render,
            **rest,
        )


@dataclass(frozen=True)
class ActionResult:
    detail: str = ""
    status_code: int | None = None


class ActionFailure(Exception):
    """Base of handler failures; `retryable` decides between retry and dead."""

    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, retry_after: float | None = None, status_code: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after
        self.status_code = status_code


class PermanentFailure(ActionFailure):
    retryable = False


class TransientFailure(ActionFailure):
    retryable = True


class ActionHandler(Protocol):
    name: str
    Params: type[ActionParams]

    def run(self, ctx: ActionContext, params: ActionParams) -> ActionResult: ...
