"""Item 5 of issue 15: untrusted input is bounded. Redaction is linear (a 200,000-character
line, ≈ 7 minutes with the old quadratic pattern, runs under a generous pytest-timeout) and
each log line is capped; a signed event with a 20 KB id is refused before anything logs it;
`/report?since=<60 KB>` is refused before the value reaches a message; the blocking work of
the web server (HMAC + JSON, database and Redis probes, the report) runs off the event loop."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import json
from datetime import UTC, datetime

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient
from structlog.testing import capture_logs

from worker.logs import MAX_LINE, configure_logging, get_logger, redact, register_secrets
from worker.settings import load_settings
from worker.web import app as web_app
from worker.web import health as web_health
from worker.web import webhook

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SECRET = "whsec_bounds_secret"


@pytest.mark.timeout(60)
def test_redaction_is_linear_on_long_adversarial_lines():
    register_secrets(["bounds-secret-value"])
    for text in ("x" * 200_000, "a://" * 50_000, "a://b:" * 40_000, "sk_test_" * 25_000):
        assert len(redact(text)) <= len(text)
    masked = redact("postgresql://u:pw-1234@h/x and bounds-secret-value")
    assert "pw-1234" not in masked and "bounds-secret-value" not in masked and masked.count("***") >= 2


def test_a_rendered_log_line_is_capped_after_redaction():
    stream = io.StringIO()
    configure_logging("json", "info", stream=stream)
    try:
        get_logger("test").info("big", value="y" * (3 * MAX_LINE), secret_tail="postgresql://u:pw-1234@h/x")
    finally:
        from tests.reliability.plugin import _Discard
        configure_logging("json", "info", stream=_Discard())
    line = stream.getvalue().splitlines()[0]
    assert len(line) < MAX_LINE + 100 and "more characters" in line


def _signed(body: bytes) -> dict[str, str]:
    t = str(int(NOW.timestamp()))
    sig = hmac.new(SECRET.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={t},v1={sig}"}


def test_a_signed_event_with_a_huge_id_or_type_is_refused_before_anything_logs_it(monkeypatch):
    enqueued = []
    off_loop = []
    accept = webhook.accept

    def recording(*args):  # noqa: ANN002
        try:
            asyncio.get_running_loop()
            off_loop.append(False)
        except RuntimeError:
            off_loop.append(True)
        return accept(*args)

    monkeypatch.setattr(webhook, "accept", recording)
    app = Starlette(routes=webhook.webhook_routes(load_settings(stripe_webhook_secret=SECRET),
                                                  lambda *t, **k: enqueued.append(t), lambda: NOW))
    huge = "evt_" + "9" * 20_000
    with TestClient(app) as client, capture_logs() as logged:
        for event in ({"id": huge, "type": "customer.updated", "data": {"object": {"id": "cus_1"}}},
                      {"id": "evt_1", "type": "customer." + "x" * 20_000, "data": {"object": {"id": "cus_1"}}}):
            body = json.dumps(event).encode()
            answer = client.post("/stripe/webhook", content=body, headers=_signed(body))
            assert answer.status_code == 400 and "9999" not in answer.text and "xxxx" not in answer.text
    assert enqueued == [] and off_loop == [True, True]
    assert all("9999" not in str(e) and "xxxx" not in str(e) for e in logged)


def test_a_huge_since_is_refused_before_it_reaches_a_message(tmp_path):
    """The report moved to the console listener (issue 17): its page and API refuse a huge
    `since` with a short answer that never echoes it, and nothing logs it."""
    from tests.console.conftest import TOKEN, console_settings
    from worker.console.app import create_console_app
    from worker.report.build import parse_since
    from worker.store.db import open_store

    store = open_store(f"sqlite:///{tmp_path / 'lc.db'}")
    app = create_console_app(console_settings(tmp_path), store, clock=lambda: NOW)
    huge = "2026-01-01" + "z" * 60_000
    with TestClient(app) as client, capture_logs() as logged:
        answer = client.get("/api/report", params={"since": huge}, headers={"Authorization": f"Bearer {TOKEN}"})
    store.engine.dispose()
    assert answer.status_code == 400 and len(answer.text) < 400 and "zzz" not in answer.text
    assert all("zzz" not in str(e) for e in logged)
    with pytest.raises(Exception) as refused:
        parse_since(huge)
    assert "zzz" not in str(refused.value)


def test_health_probes_run_off_the_event_loop(tmp_path, monkeypatch):
    from worker.store.db import open_store

    seen = []

    real_gather = web_health.gather

    def probe(*args, **kwargs):  # noqa: ANN002, ANN003
        try:
            asyncio.get_running_loop()
            seen.append("on the loop")
        except RuntimeError:
            seen.append("in a thread")
        return real_gather(*args, **kwargs)

    monkeypatch.setattr(web_app, "gather", probe)
    store = open_store(f"sqlite:///{tmp_path / 'lc.db'}")
    app = web_app.create_app(load_settings(rules_dir=tmp_path), store, clock=lambda: NOW)
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
    store.engine.dispose()
    assert seen == ["in a thread"]
