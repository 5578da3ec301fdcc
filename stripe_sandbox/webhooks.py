"""Webhook delivery from the sandbox: every emitted event is POSTed, signed like Stripe
(`Stripe-Signature: t=…,v1=<hex HMAC-SHA256 of "t.body">`), to each registered endpoint whose
event filter matches, by one background thread in emission order."""

from __future__ import annotations

import hashlib
import hmac
import queue
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """The `Stripe-Signature` header value for `payload` signed at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


@dataclass
class Endpoint:
    url: str
    secret: str
    events: tuple[str, ...] = ("*",)

    def wants(self, event_type: str) -> bool:
        return any(p == "*" or p == event_type or (p.endswith(".*") and event_type.startswith(p[:-1]))
                   for p in self.events)


@dataclass
class Delivery:
    event_id: str
    event_type: str
    url: str
    status: int | None  # None when the connection failed
    error: str | None = None


@dataclass
class Webhooks:
    """Endpoints, the delivery queue and the log of attempts (`deliveries`)."""

    timestamp: Callable[[], int] = field(default=lambda: int(time.time()))
    endpoints: list[Endpoint] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    timeout: float = 5.0

    def __post_init__(self) -> None:
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None

    def add_endpoint(self, url: str, secret: str | None = None,
                     events: tuple[str, ...] = ("*",)) -> str:
        """Register `url`; returns its signing secret (`whsec_…`, generated if not given)."""
        secret = secret or f"whsec_{secrets.token_hex(16)}"
        self.endpoints.append(Endpoint(url, secret, tuple(events)))
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
            self._thread.start()
        return secret

    def enqueue(self, event: dict) -> None:
        for endpoint in self.endpoints:
            if endpoint.wants(event["type"]):
                self._queue.put((endpoint, event))

    def flush(self) -> None:
        """Block until every queued delivery was attempted."""
        self._queue.join()

    def _run(self) -> None:
        while True:
            endpoint, event = self._queue.get()
            try:
                self.deliveries.append(self._deliver(endpoint, event))
            finally:
                self._queue.task_done()

    def _deliver(self, endpoint: Endpoint, event: dict) -> Delivery:
        body = orjson.dumps(event)
        request = urllib.request.Request(endpoint.url, data=body, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": sign(body, endpoint.secret, self.timestamp()),
        })
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return Delivery(event["id"], event["type"], endpoint.url, response.status)
        except urllib.error.HTTPError as exc:
            return Delivery(event["id"], event["type"], endpoint.url, exc.code, str(exc))
        except OSError as exc:
            return Delivery(event["id"], event["type"], endpoint.url, None, str(exc))
