"""The console's gate (pure ASGI middleware, inside Starlette's SessionMiddleware).

For every request: who is it (a session from the login form, an API token, the metrics token
for /metrics, or the trusted proxy's user header when enabled and the peer is a trusted
proxy)? Nobody → 401 (API, /metrics) or a redirect to /login (pages). A state-changing
request authenticated by the session cookie must carry the session's CSRF token (form field
`csrf_token` or header `X-CSRF-Token`) → else 403; bearer-token requests carry no cookie and so
cannot be forged cross-site. Every answer gets the security headers.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs, quote

from worker.console.auth import Access

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable, Callable], Awaitable[None]]

OPEN_PATHS = ("/login",)
OPEN_PREFIXES = ("/static/",)
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
MAX_FORM_BYTES = 64 * 1024
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


def csrf_token(session: MutableMapping[str, Any]) -> str:
    """The session's CSRF token, made on first use."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


class ConsoleGuard:
    def __init__(self, app: ASGIApp, *, access: Access, proxy_header: str | None = None,
                 trusted_proxies: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.access = access
        self.proxy_header = proxy_header.lower().encode() if proxy_header else None
        self.trusted_proxies = trusted_proxies

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _with_headers(send, static=scope["path"].startswith(OPEN_PREFIXES))
        path, method = scope["path"], scope["method"]
        headers = dict(scope.get("headers") or [])
        actor, via = self._identify(scope, headers, path)
        if actor is None and not (path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)):
            await _unauthenticated(scope, send, path)
            return
        scope.setdefault("state", {})["actor"] = actor
        scope["state"]["auth_via"] = via
        if method in UNSAFE and via != "token":
            body = await _read_body(receive)
            if body is None:
                await _plain(send, 413, "The request body is too large.")
                return
            if not _csrf_ok(scope.get("session") or {}, headers, body):
                await _plain(send, 403, "Missing or wrong CSRF token: reload the page and try again.")
                return
            receive = _replay(body)
        await self.app(scope, receive, send)

    def _identify(self, scope: Scope, headers: dict[bytes, bytes], path: str) -> tuple[str | None, str | None]:
        auth = headers.get(b"authorization", b"").decode("latin-1")
        if auth[:7].lower() == "bearer ":
            token = auth[7:].strip()
            name = self.access.token_name(token)
            if name is not None:
                return f"token:{name}", "token"
            if path == "/metrics" and self.access.is_metrics_token(token):
                return "metrics", "token"
            return None, None
        user = (scope.get("session") or {}).get("user")
        if user and user in self.access.users:
            return user, "session"
        if self.proxy_header is not None and (scope.get("client") or ("",))[0] in self.trusted_proxies:
            name = headers.get(self.proxy_header, b"").decode("latin-1").strip()
            if name:
                return f"proxy:{name}", "proxy"
        return None, None


def _csrf_ok(session: MutableMapping[str, Any], headers: dict[bytes, bytes], body: bytes) -> bool:
    expected = session.get("csrf")
    if not expected:
        return False
    given = headers.get(b"x-csrf-token", b"").decode("latin-1")
    if not given and headers.get(b"content-type", b"").startswith(b"application/x-www-form-urlencoded"):
        given = (parse_qs(body.decode("utf-8", "replace")).get("csrf_token") or [""])[0]
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


async def _read_body(receive: Callable) -> bytes | None:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Callable:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


def _with_headers(send: Callable, *, static: bool) -> Callable:
    async def wrapped(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            headers = [h for h in message.get("headers", []) if h[0].lower() not in dict(SECURITY_HEADERS)]
            headers += SECURITY_HEADERS
            if not static and not any(h[0].lower() == b"cache-control" for h in headers):
                headers.append((b"cache-control", b"no-store"))
            message = {**message, "headers": headers}
        await send(message)

    return wrapped


async def _unauthenticated(scope: Scope, send: Callable, path: str) -> None:
    accepts = dict(scope.get("headers") or []).get(b"accept", b"")
    if path.startswith("/api/") or path == "/metrics" or b"application/json" in accepts:
        body = b'{"error": "authentication required: log in, or send Authorization: Bearer <token>"}'
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]})
        await send({"type": "http.response.body", "body": body})
        return
    query = scope.get("query_string", b"").decode("latin-1")
    target = path + (f"?{query}" if query else "")
    location = "/login?next=" + quote(target, safe="")
    await send({"type": "http.response.start", "status": 303,
                "headers": [(b"location", location.encode()), (b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


async def _plain(send: Callable, status: int, text: str) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
    await send({"type": "http.response.body", "body": (text + "\n").encode()})
