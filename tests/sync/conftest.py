"""Fixtures for the sync tests: localstripe in its own process and temp folder, a client."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

LOCALSTRIPE_KEY = "sk_test_localstripe"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def localstripe(tmp_path: Path) -> Iterator[str]:
    """A fresh localstripe server; its base URL.

    localstripe pickles its state to a fixed /tmp path shared by every instance (not $TMPDIR):
    `--from-scratch` makes this one ignore that file and keep its own state in memory.
    """
    port = free_port()
    exe = Path(sys.executable).parent / "localstripe"
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen([str(exe), "--port", str(port), "--from-scratch"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{base}/v1/customers", auth=(LOCALSTRIPE_KEY, ""), timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("localstripe did not start") from None
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)
