"""Headless Chromium driven over the DevTools protocol, for the HTML report test.

`load_page(url, screenshot)` starts Debian's `chromium` (fresh profile, no network services),
opens the page, waits for the load event, and returns what happened: console messages by level,
uncaught exceptions, every URL the page requested, and a way to evaluate JavaScript. It
writes a PNG screenshot. Chromium missing: skip on a laptop, fail when CI is set.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from base64 import b64decode
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--window-size=1280,2600")


def chromium_path() -> str:
    """The Chromium binary; skip without it on a laptop, fail in CI (the browser tier must run)."""
    for candidate in (os.environ.get("CHROMIUM"), *CHROMIUM_CANDIDATES, shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    message = "Chromium is not installed (Debian: apt-get install -y chromium)"
    if os.environ.get("CI"):
        pytest.fail(f"{message}, and CI is set: the browser test must run in CI.")
    pytest.skip(message)


@dataclass
class PageRun:
    console: list[tuple[str, str]] = field(default_factory=list)  # (level, text)
    exceptions: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def errors(self) -> list[str]:
        return self.exceptions + [text for level, text in self.console if level in ("error", "assert")]


class _Cdp:
    def __init__(self, ws_url: str):
        import websocket  # test extra: websocket-client

        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, event: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == event for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {event} within {timeout} s")
            self.events.append(json.loads(self.ws.recv()))


def _devtools_port(profile: Path, process: subprocess.Popen, timeout: float = 30) -> int:
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if marker.exists() and marker.read_text().strip():
            return int(marker.read_text().split()[0])
        if process.poll() is not None:
            raise RuntimeError(f"chromium exited with {process.returncode}")
        time.sleep(0.1)
    raise TimeoutError("chromium did not open its DevTools port")


def load_page(url: str, screenshot: Path, expressions: dict[str, str]) -> PageRun:
    """Open `url`, wait for load, evaluate `expressions` (name → JS), screenshot, close."""
    profile = Path(tempfile.mkdtemp(prefix="lc-chromium-"))
    process = subprocess.Popen([chromium_path(), *FLAGS, f"--user-data-dir={profile}",
                                "--remote-debugging-port=0", "about:blank"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port = _devtools_port(profile, process)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
            target = next(t for t in json.load(answer) if t["type"] == "page")
        cdp = _Cdp(target["webSocketDebuggerUrl"])
        for domain in ("Page.enable", "Runtime.enable", "Log.enable", "Network.enable"):
            cdp.call(domain)
        cdp.call("Page.navigate", url=url)
        cdp.wait_for("Page.loadEventFired")
        run = PageRun()
        run.values = {name: _evaluate(cdp, js) for name, js in expressions.items()}
        shot = cdp.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        screenshot.write_bytes(b64decode(shot["data"]))
        _collect(cdp.events, run)
        cdp.ws.close()
        return run
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(profile, ignore_errors=True)


def _evaluate(cdp: _Cdp, expression: str) -> Any:
    result = cdp.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
    return result.get("result", {}).get("value")


def _collect(events: list[dict[str, Any]], run: PageRun) -> None:
    for event in events:
        params = event.get("params", {})
        if event.get("method") == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            run.console.append((params.get("type", ""), text))
        elif event.get("method") == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            run.exceptions.append(details.get("exception", {}).get("description") or details.get("text", ""))
        elif event.get("method") == "Log.entryAdded":
            entry = params.get("entry", {})
            run.console.append((entry.get("level", ""), entry.get("text", "")))
        elif event.get("method") == "Network.requestWillBeSent":
            run.requests.append(params.get("request", {}).get("url", ""))
