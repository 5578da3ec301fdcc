"""The browser tier: Playwright for Python driving Debian's Chromium (no browser download).

`browser_session()` launches `/usr/bin/chromium` (or $CHROMIUM) through Playwright's
`executable_path` and yields a `Watched` page that records console messages, uncaught
exceptions and every URL requested. `load_page(url, screenshot, expressions)` is the one-shot
form the offline report test uses. Chromium (or Playwright) missing: skip on a laptop, fail
when CI is set.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars"]


def _missing(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{message}, and CI is set: the browser test must run in CI.")
    pytest.skip(message)


def chromium_path() -> str:
    """The Chromium binary; skip without it on a laptop, fail in CI (the browser tier must run)."""
    for candidate in (os.environ.get("CHROMIUM"), *CHROMIUM_CANDIDATES, shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    _missing("Chromium is not installed (Debian: apt-get install -y chromium)")
    raise AssertionError("unreachable")


@dataclass
class Watched:
    page: Any  # playwright.sync_api.Page
    console: list[tuple[str, str]] = field(default_factory=list)  # (type, text)
    exceptions: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)  # what load_page's expressions returned

    @property
    def errors(self) -> list[str]:
        return self.exceptions + [text for kind, text in self.console if kind in ("error", "assert")]


@contextmanager
def browser_session(*, viewport: tuple[int, int] = (1280, 1000)) -> Iterator[Watched]:
    """A fresh Chromium (Playwright) with one watched page; closed afterwards."""
    path = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright for Python is not installed (pip install playwright; no browser download needed)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
            page = context.new_page()
            watched = Watched(page)
            page.on("console", lambda m: watched.console.append((m.type, m.text)))
            page.on("pageerror", lambda e: watched.exceptions.append(str(e)))
            page.on("request", lambda r: watched.requests.append(r.url))
            yield watched
        finally:
            browser.close()


def load_page(url: str, screenshot: Path, expressions: dict[str, str]) -> Watched:
    """Open `url`, wait for load, evaluate `expressions` (name → JS), screenshot, close."""
    with browser_session(viewport=(1280, 2600)) as watched:
        watched.page.goto(url, wait_until="load")
        watched.values = {name: watched.page.evaluate(js) for name, js in expressions.items()}
        watched.page.screenshot(path=str(screenshot), full_page=True)
    return watched
