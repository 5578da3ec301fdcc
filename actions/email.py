"""`email` action: a multipart (text + optional HTML) message over SMTP via `SMTP_URL`.

`to`, `subject`, `text`, `html` and `from` are templates. The sender is `from`, else the
`from=` option of `SMTP_URL`, else the SMTP user when it is an address. `Message-ID` is
derived from the delivery's idempotency key, so a retried delivery carries the same id and a
receiver (or a mail filter) can drop the duplicate. Connection details: `actions.smtp`.
"""

from __future__ import annotations

from typing import Any

import hashlib
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses

from pydantic import Field

from actions.base import ActionContext, ActionParams, ActionResult, PermanentFailure
from actions.fields import EmailAddresses, RequiredTemplate, Template, email_problem, split_addresses
from actions.smtp import SmtpTarget, SmtpUrlError, deliver, parse_smtp_url
from actions.templates import render_param
from worker.logs import register_secrets


class EmailParams(ActionParams):
    to: EmailAddresses
    subject: RequiredTemplate
    text: RequiredTemplate
    html: Template | None = None
    from_: EmailAddresses | None = Field(default=None, alias="from")


def message_id(idempotency_key: str, sender: str) -> str:
    """A Message-ID that is the same for every attempt of one delivery."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]
    domain = getaddresses([sender])[0][1].rpartition("@")[2] or "stripe-lifecycle.invalid"
    return f"<{digest}.lifecycle@{domain}>"


def smtp_target(ctx: ActionContext) -> SmtpTarget:
    """The SMTP server from the settings' SMTP_URL, or a permanent failure naming the fix."""
    raw: Any = getattr(ctx.settings, "smtp_url", None)
    url = raw.get_secret_value() if hasattr(raw, "get_secret_value") else raw
    if not url:
        raise PermanentFailure("email needs SMTP_URL: set it to smtp://user:pass@host:port (or smtps://…)")
    try:
        target = parse_smtp_url(url)
    except SmtpUrlError as exc:
        raise PermanentFailure(str(exc)) from None
    register_secrets(target.secrets())
    return target


def _addresses(ctx: ActionContext, name: str, template: str) -> list[str]:
    addresses = split_addresses(render_param(ctx.render, name, template))
    for address in addresses or [""]:
        problem = email_problem(address)
        if problem:
            raise PermanentFailure(f"`{name}` rendered to something that is not an email address ({problem})")
    return addresses


def _sender(ctx: ActionContext, params: EmailParams, target: SmtpTarget) -> str:
    if params.from_:
        return _addresses(ctx, "from", params.from_)[0]
    for candidate in (target.default_from, target.username):
        if candidate and email_problem(candidate) is None:
            return candidate
    raise PermanentFailure("email has no sender: set `from:` in the action or ?from=… in SMTP_URL")


def build_message(ctx: ActionContext, params: EmailParams, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(_addresses(ctx, "to", params.to))
    message["Subject"] = " ".join(render_param(ctx.render, "subject", params.subject).split())
    message["Date"] = format_datetime(ctx.now())
    message["Message-ID"] = message_id(ctx.idempotency_key, sender)
    message.set_content(render_param(ctx.render, "text", params.text))
    if params.html:
        message.add_alternative(render_param(ctx.render, "html", params.html), subtype="html")
    return message


class EmailHandler:
    name = "email"
    Params = EmailParams

    def run(self, ctx: ActionContext, params: EmailParams) -> ActionResult:
        target = smtp_target(ctx)
        message = build_message(ctx, params, _sender(ctx, params, target))
        refused = deliver(target, message)
        detail = f"email sent to {len(getaddresses([message['To']])) - len(refused)} recipient(s)"
        if refused:
            detail += f"; refused by the server: {', '.join(sorted(refused))}"
        return ActionResult(detail=detail)


handler = EmailHandler()
