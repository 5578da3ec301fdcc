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
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, SecretStr

from actions.failures import ActionFailure, PermanentFailure, TransientFailure
from actions.templates import make_renderer

if TYPE_CHECKING:
    from actions.http import HttpSeam

__all__ = ["ActionContext", "ActionFailure", "ActionHandler", "ActionParams", "ActionResult", "ActionSettings",
           "PermanentFailure", "TransientFailure", "utc_now"]


class ActionParams(BaseModel):
    """Base of every handler's params. Inputs are hidden from validation errors (secrets)."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


def utc_now() -> datetime:
    """The real clock; the default `ActionContext.now` (the send time, e.g. for signatures)."""
    return datetime.now(timezone.utc)


class ActionSettings(Protocol):
    """What a handler may read of the process settings (`worker.settings.Settings` has it)."""

    @property
    def smtp_url(self) -> SecretStr | None: ...


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
    settings: ActionSettings | None = None  # worker.settings.Settings (SMTP_URL etc.)
    extra: dict[str, Any] = field(default_factory=dict)
    now: Callable[[], datetime] = utc_now  # send-time clock (webhook signature `t`, email Date)
    http: HttpSeam | None = None  # None = the process-wide default (`actions.http.default_seam`)

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


P_contra = TypeVar("P_contra", bound=ActionParams, contravariant=True)


class ActionHandler(Protocol[P_contra]):
    """A handler: its name in rule files, its params model, and `run` over validated params."""

    @property
    def name(self) -> str: ...

    @property
    def Params(self) -> type[ActionParams]: ...  # the params model (a class attribute)

    def run(self, ctx: ActionContext, params: P_contra) -> ActionResult: ...
