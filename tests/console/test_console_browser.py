"""The console in a real browser (Playwright + Debian's Chromium) against `stripe-lifecycle run`
on PostgreSQL: log in, search, open an account, read its timeline, re-drive a dead delivery
and see it delivered by the process's own workers; no console errors; no request leaves the
console's origin. Screenshots are kept under $CONSOLE_SCREENSHOTS (default: the test's tmp)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import clean_env
from tests.console.conftest import PASSWORD, build_world
from tests.report.browser import browser_session
from tests.sync.conftest import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def running(postgres_url, console_rules, tmp_path):
    from worker.console.auth import hash_password
    from worker.store.db import open_store

    store = open_store(postgres_url)
    world = build_world(store, console_rules)
    port = free_port()
    env = clean_env(DATABASE_URL=postgres_url, RULES_DIR=str(console_rules), CONSOLE_PORT=str(port),
                    CONSOLE_USERS=f"ann:{hash_password(PASSWORD)}", CONSOLE_SECRET="b" * 40,
                    SYNC_EVERY="86400", RECONCILE_EVERY="86400", EVALUATE_EVERY="86400", MEASURE_EVERY="86400")
    log = tmp_path / "run.log"
    with log.open("w") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "worker.cli.main", "run"], env=env, cwd=tmp_path,
                                stdout=sink, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/login", timeout=1)
                break
            except httpx.HTTPError:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        yield world, base, log
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        store.engine.dispose()


def _shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_log_in_search_open_account_redrive_and_see_it_delivered(running, tmp_path):
    world, base, log = running
    shots = _shots(tmp_path)
    with browser_session() as watched:
        page = watched.page
        page.goto(f"{base}/accounts")
        assert page.url.startswith(f"{base}/login")
        page.fill("input[name=username]", "ann")
        page.fill("input[name=password]", PASSWORD)
        page.click("#login")
        page.wait_for_url(f"{base}/accounts")
        assert page.inner_text("#who") == "ann"
        page.screenshot(path=str(shots / "1-accounts.png"), full_page=True)

        name = world.contact_name or world.contact
        page.fill("#search", name)
        page.click("#search-go")
        page.wait_for_load_state()
        link = page.locator(f"#accounts a[href='/accounts/{world.contact}']")
        assert link.count() == 1
        page.screenshot(path=str(shots / "2-search.png"), full_page=True)
        link.click()
        page.wait_for_url(re.compile(rf".*/accounts/{re.escape(world.contact)}$"))
        timeline = page.inner_text("#timeline")
        assert "renewal-heads-up" in timeline and "dead" in timeline and "HTTP 500 from the receiver" in timeline
        assert "MRR" in page.inner_text("#explain") or page.inner_text("#explain").strip()
        page.screenshot(path=str(shots / "3-account.png"), full_page=True)

        page.goto(f"{base}/deliveries?state=dead")
        page.check(f"#delivery-{world.dead_id} input[name=id]")
        page.click("#retry-selected")
        page.wait_for_load_state()
        assert "re-drove 1" in page.inner_text("#done")
        deadline = time.monotonic() + 60
        while True:
            page.goto(f"{base}/deliveries?state=delivered")
            if page.locator(f"#delivery-{world.dead_id}").count():
                break
            assert time.monotonic() < deadline, f"never delivered. {log.read_text()[-3000:]}"
            time.sleep(0.5)
        assert "ann" in page.inner_text("#audit") and "delivery.retry" in page.inner_text("#audit")
        page.screenshot(path=str(shots / "4-delivered.png"), full_page=True)

        page.goto(f"{base}/accounts/{world.contact}")
        assert "delivered" in page.inner_text("#timeline")

        page.goto(f"{base}/revenue")
        page.wait_for_selector("#chart-movements svg.main-svg")
        charts = page.evaluate("['chart-movements','chart-success','chart-stages','chart-renewals']"
                               ".map(id => document.querySelectorAll('#' + id + ' svg.main-svg').length)")
        assert all(count >= 1 for count in charts), charts
        page.screenshot(path=str(shots / "5-revenue.png"), full_page=True)
        page.goto(f"{base}/automations")
        assert "renewal-heads-up" in page.inner_text("main")
        page.goto(f"{base}/automations/renewal-heads-up?contact_id={world.contact}")
        page.wait_for_selector("#chart-firings svg.main-svg")
        assert "does not fire" in page.inner_text("#verdict") or "fire" in page.inner_text("#verdict")
        assert "within" in page.inner_text("main") and "if stage" in page.inner_text("main")
        page.screenshot(path=str(shots / "6-automation-why.png"), full_page=True)
        page.goto(f"{base}/rules")
        assert page.inner_text("#load-result").endswith("valid")
        page.screenshot(path=str(shots / "7-rules.png"), full_page=True)
    assert watched.errors == []
    assert all(url.startswith(base + "/") for url in watched.requests), \
        [u for u in watched.requests if not u.startswith(base)]
    assert (shots / "5-revenue.png").stat().st_size > 20_000
