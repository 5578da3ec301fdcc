"""The demo's action sink: a real HTTP server on 127.0.0.1 that receives the automations'
webhooks (wiring). Each request is acknowledged with 200; a request repeating an
`Idempotency-Key` already seen is acknowledged and ignored, as a well-behaved receiver does.
Every new action is handed to `on_action(body)`, which tells the simulated customer.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class ActionSink:
    """`with ActionSink(on_action) as sink: sink.url` → `http://127.0.0.1:<port>`."""

    def __init__(self, on_action: Callable[[dict[str, Any]], None]) -> None:
        self.on_action = on_action
        self.received: Counter = Counter()    # automation → actions received (new keys)
        self.duplicates = 0
        self._keys: set[str] = set()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="demo-sink", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def accept(self, key: str | None, body: dict[str, Any]) -> None:
        with self._lock:
            if key and key in self._keys:
                self.duplicates += 1
                return
            if key:
                self._keys.add(key)
            self.received[body.get("automation")] += 1
        self.on_action(body)


def _handler(sink: ActionSink) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                self._answer(400)
                return
            sink.accept(self.headers.get("Idempotency-Key"), body)
            self._answer(200)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    return Handler
