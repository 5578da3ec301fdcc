"""Shared fixtures. Real-service fixtures skip on a laptop without the service but FAIL when
`CI` is set, so a green CI always means the PostgreSQL and Redis tiers really ran."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest
from sqlalchemy import create_engine, text

from worker.store.db import Store, open_store

pytest_plugins = ("tests.reliability.plugin",)  # reliability marker, log tee, secret scan

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = bool(os.environ.get("CI"))


def _answers(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), 2):
            return True
    except OSError:
        return False


def require_service(name: str, url: str, default_port: int) -> None:
    """Skip without the service on a laptop; fail in CI, where the real tier must run."""
    if _answers(url, default_port):
        return
    message = f"{name} does not answer at {url}"
    if IN_CI:
        pytest.fail(f"{message}, and CI is set: the real-service tier must run in CI.")
    pytest.skip(message)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    require_service("PostgreSQL", POSTGRES_URL, 5432)
    name = f"lc_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def redis_url() -> str:
    require_service("Redis", REDIS_URL, 6379)
    return REDIS_URL


@pytest.fixture
def redis_namespace() -> str:
    """A unique key prefix / dramatiq namespace, so tests sharing one Redis never collide."""
    return f"lc-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'lifecycle.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path) -> str:
    """Runs the test once on SQLite and once on PostgreSQL (the store must work on both)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'lifecycle.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(database_url) -> Iterator[Store]:
    store = open_store(database_url)
    try:
        yield store
    finally:
        store.engine.dispose()


@pytest.fixture
def sqlite_store(sqlite_url) -> Iterator[Store]:
    store = open_store(sqlite_url)
    try:
        yield store
    finally:
        store.engine.dispose()


# --- running the real command -------------------------------------------------------------

_PRODUCT_VARS = ("STRIPE_", "DATABASE_URL", "REDIS_", "RULES_DIR", "LOG_", "SMTP_URL", "WEB_", "SYNC_", "DELIVERY_",
                 "EVALUATE_", "MEASURE_", "RECONCILE_", "REDELIVER_", "LEADER_", "WORKER_", "HISTORY_", "CONSOLE_",
                 "METRICS_TOKEN", "HEALTH_", "PORT")


def clean_env(**overrides: str) -> dict[str, str]:
    """The test process's environment without any product setting, plus `overrides`."""
    # a plugin: imported here, after pytest has loaded (and assertion-rewritten) it
    from tests.reliability.plugin import note_env

    env = {k: v for k, v in os.environ.items() if not k.startswith(_PRODUCT_VARS)}
    env.update({"LOG_FORMAT": "json", **overrides})
    note_env(overrides)  # the secret scan looks for these values in every line the suite logs
    return env


@pytest.fixture
def cli(tmp_path):
    """Run `stripe-lifecycle ARGS…` as a real subprocess in an empty folder (no stray .env)."""
    import subprocess
    import sys

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60, cwd=None):
        result = subprocess.run(
            [sys.executable, "-m", "worker.cli.main", *args],
            env=clean_env(**(env or {})), cwd=cwd or tmp_path, capture_output=True, text=True,
            timeout=timeout, check=False,
        )
        from tests.reliability.plugin import record_output

        record_output("cli", result.stdout, result.stderr)  # scanned for secrets at session end
        return result

    return run


def wait_until_healthy(base: str, proc, *, timeout: float = 60, context=lambda: "") -> None:  # noqa: ANN001
    """Poll `base`/healthz until it answers 200; fail at once if `proc` exits, or after `timeout`.

    `context()` supplies what to show on failure (e.g. the process's log)."""
    import time

    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, f"{base} did not come up. {context()}"
        time.sleep(0.2)
