"""The SMTP seam of the `email` action: `SMTP_URL` parsing, sending, failure classification.

`SMTP_URL` forms:

| URL | connection |
|---|---|
| `smtp://user:pass@host:port` | plain SMTP (port 25 by default); AUTH only if user is given |
| `smtp://…?starttls=true`, `smtp+starttls://…` | STARTTLS upgrade (port 587 by default) |
| `smtps://…` | implicit TLS (port 465 by default) |

Query options: `from=alerts@example.com` (default sender), `timeout=30` (seconds).
User and password may be percent-encoded. TLS verifies the server certificate against the
system trust store (or `SSL_CERT_FILE`). SMTP replies 4xx and connection problems are
transient; 5xx replies, refused credentials and untrusted certificates are permanent.
The password never appears in a repr, an error or a log line.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from actions.base import ActionFailure, PermanentFailure, TransientFailure
from actions.http import scrub

Security = Literal["plain", "starttls", "tls"]
_DEFAULT_PORTS = {"plain": 25, "starttls": 587, "tls": 465}
_TRUE = {"1", "true", "yes", "on"}


class SmtpUrlError(ValueError):
    """SMTP_URL is malformed; the message never includes the URL (it holds a password)."""


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    security: Security
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    default_from: str | None = None
    timeout: float = 30.0

    def secrets(self) -> list[str]:
        return [self.password] if self.password else []


def parse_smtp_url(url: str) -> SmtpTarget:
    """`smtp[s|+starttls]://[user[:pass]@]host[:port][?starttls=true&from=…&timeout=…]`."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise SmtpUrlError("SMTP_URL is not a valid URL (expected smtp://user:pass@host:port)") from None
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    security = _security(parts.scheme, query)
    if not parts.hostname:
        raise SmtpUrlError("SMTP_URL has no host (expected smtp://user:pass@host:port)")
    try:
        timeout = float(query.get("timeout", 30))
    except ValueError:
        raise SmtpUrlError("SMTP_URL timeout= must be a number of seconds") from None
    return SmtpTarget(
        host=parts.hostname,
        port=port or _DEFAULT_PORTS[security],
        security=security,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        default_from=query.get("from"),
        timeout=timeout,
    )


def _security(scheme: str, query: dict[str, str]) -> Security:
    scheme = scheme.lower()
    if scheme == "smtps":
        return "tls"
    if scheme == "smtp+starttls":
        return "starttls"
    if scheme == "smtp":
        return "starttls" if query.get("starttls", "").lower() in _TRUE else "plain"
    raise SmtpUrlError("SMTP_URL must start with smtp://, smtp+starttls:// or smtps://")


def deliver(target: SmtpTarget, message: EmailMessage) -> dict[str, tuple[int, bytes]]:
    """Send `message`; returns the recipients the server refused (the others got it)."""
    try:
        return _send(target, message)
    except ActionFailure:
        raise
    except Exception as exc:  # noqa: BLE001 - every SMTP/socket error is classified here
        raise classify(exc, target) from None


def _send(target: SmtpTarget, message: EmailMessage) -> dict[str, tuple[int, bytes]]:
    context = ssl.create_default_context()
    if target.security == "tls":
        client: smtplib.SMTP = smtplib.SMTP_SSL(target.host, target.port, timeout=target.timeout, context=context)
    else:
        client = smtplib.SMTP(target.host, target.port, timeout=target.timeout)
    with client:
        client.ehlo()
        if target.security == "starttls":
            client.starttls(context=context)
            client.ehlo()
        if target.username:
            client.login(target.username, target.password or "")
        return client.send_message(message)


def classify(exc: Exception, target: SmtpTarget) -> ActionFailure:
    """An SMTP or socket error as a permanent or transient failure, secrets scrubbed."""
    where = f"SMTP server {target.host}:{target.port}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        kind = PermanentFailure if codes and min(codes) >= 500 else TransientFailure
        return kind(f"{where} refused every recipient (codes {sorted(set(codes))})")
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        text = scrub(f"{where} answered {exc.smtp_code}: {' '.join(reply.split())[:200]}", target.secrets())
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return PermanentFailure(text + " (check the user and password in SMTP_URL)")
        return (PermanentFailure if exc.smtp_code >= 500 else TransientFailure)(text)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return PermanentFailure(f"{where} does not support what SMTP_URL asks for (STARTTLS or AUTH)")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return PermanentFailure(f"{where}: TLS certificate not trusted ({exc.verify_message})")
    if isinstance(exc, TimeoutError):
        return TransientFailure(f"{where} timed out")
    if isinstance(exc, (UnicodeError, ValueError)) and not isinstance(exc, OSError):
        return PermanentFailure(f"{where}: the message could not be encoded for this server ({type(exc).__name__})")
    if isinstance(exc, (OSError, smtplib.SMTPException)):
        return TransientFailure(f"{where} could not be reached or dropped the connection ({type(exc).__name__})")
    return TransientFailure(f"{where}: unexpected {type(exc).__name__}")
