"""A lean real HTTP/1.1 receiver for the delivery benchmark: the outside world, cheaply.

It stands where a customer's webhook endpoint would be: a real TCP server speaking HTTP/1.1
with keep-alive, answering every POST `200 ok`, and recording each arrival's
`Idempotency-Key` with the wall-clock time its body was fully received. It costs the shared
machine as little as possible (one asyncio thread, no header objects, no JSON parsing), so the
benchmark's CPU figures are the product's and not the test receiver's: the threaded
`tests.delivery.sink.Sink` (headers, parsed bodies, scripted failures, for the tests) costs
about 0.3 ms of CPU per request, this one a fraction of that.

Requests must carry `Content-Length` (httpx sends it for a byte body); chunked bodies are
answered 411 and the connection closed.
"""

from __future__ import annotations

import asyncio
import socket
import time

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
LENGTH_REQUIRED = b"HTTP/1.1 411 Length Required\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class _Receiver(asyncio.Protocol):
    """One connection: split the byte stream into requests, record each, answer 200."""

    def __init__(self, arrivals: list[tuple[str | None, float]]):
        self.arrivals = arrivals
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            length, key, close = _headers(self.buffer[:end])
            if length is None:
                self.transport.write(LENGTH_REQUIRED)
                self.transport.close()
                return
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            self.arrivals.append((key, time.time()))
            self.buffer = self.buffer[total:]
            self.transport.write(OK)
            if close:
                self.transport.close()
                return

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


def _headers(head: bytes) -> tuple[int | None, str | None, bool]:
    """Content-Length (None when absent or chunked), Idempotency-Key, Connection: close."""
    length, key, close = None, None, False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"idempotency-key":
            key = value.strip().decode()
        elif name == b"connection":
            close = value.strip().lower() == b"close"
        elif name == b"transfer-encoding":
            return None, key, True
    return (length if length is not None else 0), key, close


def serve(ready, stop) -> list[tuple[str | None, float]]:
    """Run the receiver until `stop` (a multiprocessing Event) is set; `ready.send(url)` once
    listening. Returns every arrival as (idempotency key, arrival time)."""
    arrivals: list[tuple[str | None, float]] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Receiver(arrivals), "127.0.0.1", 0, backlog=512)
        port = server.sockets[0].getsockname()[1]
        ready.send(f"http://127.0.0.1:{port}/hook")
        while not stop.is_set():
            await asyncio.sleep(0.2)
        server.close()

    asyncio.run(main())
    return arrivals
