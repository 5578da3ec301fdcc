"""The browser tier must run in CI: a missing Chromium fails there and only skips on a laptop."""

from __future__ import annotations

import pytest

from tests.report import browser


@pytest.fixture
def no_chromium(monkeypatch):
    monkeypatch.setattr(browser, "CHROMIUM_CANDIDATES", ("/nonexistent/chromium",))
    monkeypatch.setattr(browser.shutil, "which", lambda _name: None)
    monkeypatch.delenv("CHROMIUM", raising=False)


def test_missing_chromium_fails_when_ci_is_set(no_chromium, monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        browser.chromium_path()


def test_missing_chromium_skips_on_a_laptop(no_chromium, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium"):
        browser.chromium_path()


def test_debian_chromium_is_found_where_installed():
    path = browser.chromium_path()  # skips on a laptop without it, fails in CI
    assert path.endswith(("chromium", "chromium-browser"))
