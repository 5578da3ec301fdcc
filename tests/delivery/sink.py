"""A small real HTTP receiver for the delivery tests (the benchmark uses the leaner
`bench/sink.py`, which only records keys and arrival times).

A threaded HTTP/1.1 server (keep-alive, so a worker's connection pool is reused) that records
every POST — path, `Idempotency-Key`, parsed JSON body, arrival time (wall clock, seconds) —
and answers 200, or what a test scripted: a list of statuses per idempotency key (consumed in
order, then 200), a status for every request, or a pause before answering.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Arrival:
    path: str
    key: str | None
    body: Any
    at: float
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes = b""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls on keep-alive connections
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if len(raw) < length:  # the sender died mid-request: a receiver never sees this as a delivery
            self.close_connection = True
            return
        sink = self.server.sink
        key = self.headers.get("Idempotency-Key")
        status, extra_headers = sink.answer(key)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        sink.record(Arrival(self.path, key, body, time.time(), status, dict(self.headers.items()), raw))
        if sink.pause_s:  # received, but the sender does not know yet
            time.sleep(sink.pause_s)
        payload = b"ok" if status < 400 else b"scripted failure"
        self.send_response(status)
        for name, value in extra_headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    sink: Sink

    def handle_error(self, request, client_address) -> None:
        pass  # a killed worker's connection reset is expected here, not news


class Sink:
    def __init__(self) -> None:
        self.arrivals: list[Arrival] = []
        self.scripts: dict[str, list[int]] = {}
        self.always: int | None = None
        self.retry_after: str | None = None
        self.pause_s = 0.0
        self.on_arrival: Callable[[Arrival], None] | None = None
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.sink = self
        self._thread = threading.Thread(target=self._server.serve_forever, name="sink", daemon=True)

    # --- lifecycle ---
    def start(self) -> Sink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str = "/hook") -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{path}"

    # --- behaviour ---
    def script(self, key: str, *statuses: int) -> None:
        """Answer the next requests carrying `key` with these statuses, then 200."""
        with self._lock:
            self.scripts[key] = list(statuses)

    def answer(self, key: str | None) -> tuple[int, dict[str, str]]:
        with self._lock:
            queued = self.scripts.get(key or "")
            status = queued.pop(0) if queued else (self.always or 200)
        headers = {"Retry-After": self.retry_after} if self.retry_after and status >= 400 else {}
        return status, headers

    def record(self, arrival: Arrival) -> None:
        with self._lock:
            self.arrivals.append(arrival)
        if self.on_arrival is not None:
            self.on_arrival(arrival)

    # --- reading ---
    def received(self, status: int | None = 200) -> list[Arrival]:
        with self._lock:
            return [a for a in self.arrivals if status is None or a.status == status]

    def keys(self, status: int | None = 200) -> list[str | None]:
        return [a.key for a in self.received(status)]


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.2,
             tick: Callable[[], None] | None = None) -> bool:
    """Poll `predicate` (running `tick` between polls) until true or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if tick is not None:
            tick()
        time.sleep(interval)
    return predicate()
