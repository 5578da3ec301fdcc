"""The one outbound HTTP seam of the action handlers (webhook, Slack, HubSpot, Segment).

Every request goes through `HttpSeam.post`, which owns the httpx client (timeouts, no
redirects followed) and the failure classification:

| outcome | result |
|---|---|
| 2xx | the response |
| 408, 429 | `TransientFailure`, `retry_after` from `Retry-After` (seconds or HTTP date) |
| 5xx | `TransientFailure` (with `retry_after` when the server sent one) |
| timeout, connection refused/reset, other transport errors | `TransientFailure` |
| other 4xx, 3xx (redirects are not followed for a POST) | `PermanentFailure` |
| an invalid URL or unsupported scheme | `PermanentFailure` |

Messages name the receiver by host only (paths carry tokens, e.g. Slack webhook URLs) and are
passed through `worker.logs.redact` plus the request's own secrets, so no token, write key or
password ever reaches an error, a log line or a delivery row.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from actions.base import PermanentFailure, TransientFailure, utc_now
from worker.logs import MASK, redact

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
USER_AGENT = "stripe-lifecycle"
_BODY_SNIPPET = 200
_TRANSIENT_4XX = frozenset({408, 429})


def receiver(url: str) -> str:
    """The part of a URL safe to print: its host (and port), never path, query or user info."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        return f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return "an invalid URL"


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """`Retry-After` as seconds from `now`: delta-seconds or an HTTP date; None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - now).total_seconds())


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Mask this request's secrets and every registered/known secret shape in `text`."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    return redact(text)


class HttpSeam:
    """A shared httpx client plus the failure classification; thread-safe, one per process."""

    def __init__(self, timeout: httpx.Timeout | float = DEFAULT_TIMEOUT, transport: httpx.BaseTransport | None = None,
                 clock=utc_now):
        self._client = httpx.Client(
            timeout=timeout, transport=transport, follow_redirects=False, headers={"User-Agent": USER_AGENT}
        )
        self._clock = clock

    def close(self) -> None:
        self._client.close()

    def post(
        self,
        url: str,
        *,
        what: str,
        content: bytes | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        secrets: Iterable[str | None] = (),
    ) -> httpx.Response:
        """POST and classify. `what` names the call in messages ("webhook", "HubSpot upsert")."""
        secrets = [*secrets, *(auth or ())]
        label = f"{what} to {receiver(url)}"
        try:
            response = self._client.post(url, content=content, json=json, headers=headers, auth=auth)
        except httpx.TimeoutException as exc:
            raise TransientFailure(f"{label} timed out ({type(exc).__name__})") from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise PermanentFailure(f"{label}: invalid URL ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise TransientFailure(f"{label} failed: could not connect or the connection broke "
                                   f"({type(exc).__name__})") from None
        return self._classify(response, label, secrets)

    def _classify(self, response: httpx.Response, label: str, secrets: list[str | None]) -> httpx.Response:
        status = response.status_code
        if 200 <= status < 300:
            return response
        message = f"{label} answered HTTP {status}"
        snippet = _snippet(response)
        if snippet:
            message += f": {snippet}"
        message = scrub(message, secrets)
        if status in _TRANSIENT_4XX or status >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), self._clock())
            raise TransientFailure(message, retry_after=retry_after, status_code=status)
        if 300 <= status < 400:
            message += " (redirects are not followed; configure the final URL)"
        raise PermanentFailure(message, status_code=status)


def _snippet(response: httpx.Response) -> str:
    try:
        text = response.text
    except (UnicodeDecodeError, LookupError):
        return ""
    text = " ".join(text.split())
    return text[:_BODY_SNIPPET] + ("…" if len(text) > _BODY_SNIPPET else "")


_default: HttpSeam | None = None
_default_lock = threading.Lock()


def default_seam() -> HttpSeam:
    """The process-wide seam, created on first use (so it is never inherited across a fork)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = HttpSeam()
        return _default


def seam_for(ctx: Any) -> HttpSeam:
    """The seam a handler uses: `ctx.http` when the caller injected one, else the default."""
    return getattr(ctx, "http", None) or default_seam()
