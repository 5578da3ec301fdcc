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

Requests go out through `httpcore` (the connection pool under httpx): one keep-alive pool per
process, connections reused per receiver. The `httpx.Client` layer above it (URL merging,
cookies, auth flows, redirect handling, event hooks) cost about half the CPU of each POST and
none of it is used here (no redirects are followed, no cookies kept); the request is built
here instead (Host, Content-Length, User-Agent, Basic auth, JSON body as httpx would encode it)
and the answer is handed to handlers as an `httpx.Response`, as before. When a proxy is
configured in the environment (`HTTPS_PROXY` …) the seam uses an `httpx.Client`, which honours it.

Messages name the receiver by host only (paths carry tokens, e.g. Slack webhook URLs) and are
passed through `worker.logs.redact` plus the request's own secrets, so no token, write key or
password ever reaches an error, a log line or a delivery row.
"""

from __future__ import annotations

import base64
import json as jsonlib
import threading
from collections.abc import Iterable
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from urllib.request import getproxies

import httpcore
import httpx

from actions.base import PermanentFailure, TransientFailure, utc_now
from worker.logs import MASK, redact

if TYPE_CHECKING:
    from actions.base import ActionContext

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
USER_AGENT = "stripe-lifecycle"
_BODY_SNIPPET = 200
_TRANSIENT_4XX = frozenset({408, 429})
MAX_CACHED_URLS = 1024


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
    """A shared connection pool plus the failure classification; thread-safe, one per process."""

    def __init__(self, timeout: httpx.Timeout | float = DEFAULT_TIMEOUT, clock=utc_now):
        self._timeout = httpx.Timeout(timeout).as_dict()
        self._clock = clock
        self._client: httpx.Client | None = None
        self._pool: httpcore.ConnectionPool | None = None
        self._targets: dict[str, httpcore.URL] = {}
        if _proxy_configured():
            self._client = httpx.Client(timeout=timeout, follow_redirects=False, headers={"User-Agent": USER_AGENT})
        else:
            self._pool = httpcore.ConnectionPool(ssl_context=httpx.create_ssl_context(), max_connections=100,
                                                 max_keepalive_connections=20, keepalive_expiry=5.0)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        if self._pool is not None:
            self._pool.close()

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
            response = self._send(url, content, json, headers, auth)
        except (httpx.TimeoutException, httpcore.TimeoutException) as exc:
            raise TransientFailure(f"{label} timed out ({type(exc).__name__})") from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL, httpcore.UnsupportedProtocol, ValueError) as exc:
            raise PermanentFailure(f"{label}: invalid URL ({type(exc).__name__})") from None
        except (httpx.TransportError, httpcore.NetworkError, httpcore.ProtocolError, httpcore.ProxyError) as exc:
            raise TransientFailure(f"{label} failed: could not connect or the connection broke "
                                   f"({type(exc).__name__})") from None
        return self._classify(response, label, secrets)

    def _send(self, url: str, content: bytes | None, json: Any, headers: dict[str, str] | None,
              auth: tuple[str, str] | None) -> httpx.Response:
        if self._client is not None:
            return self._client.post(url, content=content, json=json, headers=headers, auth=auth)
        target = self._target(url)
        body, fields = _request_fields(target, content, json, headers, auth)
        answer = self._pool.request("POST", target, headers=fields, content=body,
                                    extensions={"timeout": self._timeout})
        return httpx.Response(answer.status, headers=answer.headers, content=answer.content)

    def _target(self, url: str) -> httpcore.URL:
        """The URL checked as httpx checks it (InvalidURL, UnsupportedProtocol), once per URL:
        a process posts to the few receivers its rules name, over and over."""
        found = self._targets.get(url)
        if found is None:
            parsed = httpx.URL(url)
            if parsed.scheme not in ("http", "https") or not parsed.host:
                raise httpx.UnsupportedProtocol(f"unsupported URL scheme {parsed.scheme!r}")
            found = httpcore.URL(scheme=parsed.raw_scheme, host=parsed.raw_host, port=parsed.port,
                                 target=parsed.raw_path)
            if len(self._targets) < MAX_CACHED_URLS:
                self._targets[url] = found
        return found

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


def _proxy_configured() -> bool:
    """A proxy in the environment (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY), as httpx would use it."""
    return any(getproxies().get(scheme) for scheme in ("http", "https", "all"))


def _request_fields(target: httpcore.URL, content: bytes | None, json: Any, headers: dict[str, str] | None,
                    auth: tuple[str, str] | None) -> tuple[bytes, list[tuple[str, str]]]:
    """The body and the header list of a POST, as `httpx.Client` would build them."""
    fields = {"Host": _host_header(target), "Accept": "*/*", "User-Agent": USER_AGENT}
    if json is not None and content is None:
        content = jsonlib.dumps(json, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        fields["Content-Type"] = "application/json"
    body = content or b""
    if auth is not None:
        fields["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    merged = {name.lower(): (name, value) for name, value in fields.items()}
    merged.update({name.lower(): (name, value) for name, value in (headers or {}).items()})
    merged["content-length"] = ("Content-Length", str(len(body)))
    return body, list(merged.values())


def _host_header(target: httpcore.URL) -> str:
    default = {b"http": 80, b"https": 443}.get(target.scheme)
    host = target.host.decode("ascii")
    host = f"[{host}]" if ":" in host else host
    return host if target.port in (None, default) else f"{host}:{target.port}"


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


def seam_for(ctx: ActionContext) -> HttpSeam:
    """The seam a handler uses: `ctx.http` when the caller injected one, else the default."""
    return ctx.http or default_seam()
