"""The sandbox's HTTP layer: a threaded stdlib server on 127.0.0.1 that checks the API key,
applies injected faults, decodes Stripe's form encoding and answers JSON like Stripe does
(error JSON, `Request-Id`, `Stripe-Version`, keep-alive)."""

from __future__ import annotations

import base64
import socket
import struct
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import orjson

from stripe_sandbox.api import Api
from stripe_sandbox.api_errors import ApiError
from stripe_sandbox.forms import decode

if TYPE_CHECKING:
    from stripe_sandbox.sandbox import Sandbox

def encode(body: dict | bytes) -> bytes:
    return body if isinstance(body, bytes) else orjson.dumps(body)


def _presented_key(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value).decode().split(":", 1)[0]
        except ValueError:
            return None
    return None


def _redact(key: str | None) -> str:
    if not key:
        return ""
    return f"{key[:8]}{'*' * 4}{key[-4:]}" if len(key) > 12 else "****"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120  # idle keep-alive connections end eventually
    disable_nagle_algorithm = True  # headers and body go out at once (no 40 ms delayed-ACK stalls)
    server_version = "stripe-sandbox"
    sandbox: Sandbox
    api: Api

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        return

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        fault = self.sandbox.faults.draw()
        if fault == "drop":
            self._drop()
            return
        if fault == "slow":
            time.sleep(self.sandbox.faults.slow_seconds)
        if fault == "429":
            self._send(429, ApiError(429, "Too many requests in a short period of time.",
                                     type_="invalid_request_error", code="rate_limit").body(),
                       {"Retry-After": str(self.sandbox.faults.retry_after), "Stripe-Should-Retry": "true"})
            return
        if fault == "500":
            self._send(500, ApiError(500, "An unknown error occurred (injected).", type_="api_error").body())
            return
        self._send(*self._answer(method, body))

    def _answer(self, method: str, body: str) -> tuple[int, dict]:
        key = _presented_key(self.headers.get("Authorization"))
        parts = urlsplit(self.path)
        if key != self.sandbox.api_key:
            refusal = self._refusal(key, method, parts.path)
            if refusal is not None:
                return refusal
        params = decode(parts.query)
        if body:
            params.update(decode(body))
        try:
            return self.api.handle(method, parts.path, params, self.headers.get("Stripe-Version"))
        except ApiError as exc:
            return exc.status, exc.body()
        except Exception as exc:  # a sandbox bug: answer like Stripe's 500, keep serving
            return 500, ApiError(500, f"Sandbox internal error: {exc!r}", type_="api_error").body()

    def _refusal(self, key: str | None, method: str, path: str) -> tuple[int, dict] | None:
        """401 for an unknown key; 403 when a restricted key lacks the resource's permission."""
        allowed = self.sandbox.restricted_keys.get(key or "")
        if allowed is None:
            message = ("You did not provide an API key." if not key
                       else f"Invalid API Key provided: {_redact(key)}")
            return 401, ApiError(401, message).body()
        resource = path.strip("/").split("/")[1] if path.count("/") >= 2 else ""
        access = "read" if method == "GET" else "write"
        if f"{resource}:{access}" in allowed or f"{resource}:write" in allowed:
            return None
        singular = {"customers": "customer", "subscriptions": "subscription", "prices": "plan",
                    "products": "product", "coupons": "coupon", "events": "event",
                    "subscription_items": "subscription", "account": "account"}.get(resource, resource)
        message = (f"The provided key '{_redact(key)}' does not have the required permissions for "
                   f"this endpoint on account 'acct_sandbox'. Having the 'rak_{singular}_{access}' "
                   "permission would allow this request to continue.")
        return 403, ApiError(403, message, code="secret_key_required").body()

    def _send(self, status: int, body: dict | bytes, headers: dict[str, str] | None = None) -> None:
        payload = encode(body)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Request-Id", f"req_{uuid.uuid4().hex[:14]}")
        self.send_header("Stripe-Version", self.headers.get("Stripe-Version") or self.sandbox.api_version)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _drop(self) -> None:
        """Close the connection without a byte of response (a reset, like a dead proxy)."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _TrackingServer(ThreadingHTTPServer):
    """Remembers open client connections so `stop()` can close idle keep-alive ones too."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        self.open_connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()

    def process_request(self, request, client_address) -> None:
        with self._conn_lock:
            self.open_connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self._conn_lock:
            self.open_connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._conn_lock:
            connections, self.open_connections = list(self.open_connections), set()
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class SandboxServer:
    """A ThreadingHTTPServer in a daemon thread, bound to an ephemeral port by default."""

    def __init__(self, sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0) -> None:
        handler = type("SandboxHandler", (_Handler,), {"sandbox": sandbox, "api": Api(sandbox)})
        self.httpd = _TrackingServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="stripe-sandbox",
                                       kwargs={"poll_interval": 0.1}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> str:
        self.thread.start()
        return self.url

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.httpd.close_connections()
        self.thread.join(timeout=5)
