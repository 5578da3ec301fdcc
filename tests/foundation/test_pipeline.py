"""The scheduled sync job skips its tick when another sync of the database is running."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from structlog.testing import capture_logs

from worker.runtime.runtime import Runtime
from worker.settings import load_settings
from worker.sync.service import sync_job
from worker.store.db import open_store
from worker.store.locks import database_lock

RULES = Path(__file__).resolve().parents[2] / "rules"


def test_a_busy_sync_lock_skips_the_tick_without_touching_stripe(sqlite_url):
    settings = load_settings(database_url=sqlite_url, rules_dir=RULES, stripe_api_key="sk_test_x",
                             stripe_api_base="http://127.0.0.1:9")  # nothing listens: a request would fail
    store = open_store(sqlite_url)
    with database_lock(store.engine, "sync") as held, capture_logs() as logged:
        assert held
        sync_job(Runtime(settings, store=store), datetime(2026, 11, 25, tzinfo=timezone.utc), full=False)
    assert [e["event"] for e in logged if e["event"].startswith("sync")] == ["sync_skipped"]
