"""Booting a `dramatiq worker.tasks` process (wiring): its broker and its `Runtime`.

`worker.tasks` declares the actors; dramatiq binds an actor to the global broker when it is
declared, so importing `worker.tasks` in a process without one installs `worker_broker()`:
Redis from REDIS_URL (the in-process StubBroker without it), created without any I/O. The
process is booted at dramatiq's `process_boot`, before any worker thread starts:

1. settings read, logging configured, secrets registered, Redis answered;
2. every module a message may need imported (`EAGER_MODULES`) — a module first imported by
   several worker threads at once can be left half-initialised for good (issue 15, item 1);
3. the `Runtime` built and installed, its store opened (dialect loaded, migrations checked,
   one ORM query), its rules and matcher loaded (a rules problem is logged; the messages that
   need rules report it themselves).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping
from typing import Any

import dramatiq
from sqlalchemy import select
from sqlalchemy.orm import configure_mappers

from worker.errors import LifecycleError
from worker.logs import configure_logging, get_logger, register_secrets
from worker.runtime.broker import check_redis, make_broker
from worker.runtime.current import current_runtime, install_runtime
from worker.runtime.heartbeat import HeartbeatMiddleware
from worker.runtime.queue import DramatiqQueue
from worker.runtime.runtime import Runtime
from worker.settings import Settings, load_settings
from worker.store.models import SyncState

log = get_logger("boot")
EAGER_MODULES = (
    "worker.engine.durable",  # the durable_rules C extension
    "actions.registry", "actions.templates", "actions.http", "actions.smtp",
    "jinja2.sandbox", "httpx", "stripe",
    "sqlalchemy.dialects.postgresql.psycopg", "sqlalchemy.dialects.sqlite.pysqlite",
    "alembic.command", "alembic.runtime.migration",
)
_lock = threading.Lock()


def _settings() -> Settings:
    settings = load_settings()
    register_secrets(settings.secrets())
    return settings


class ProcessBoot(dramatiq.Middleware):
    """Calls `boot` at dramatiq's process_boot (after the actors' import, before any thread)."""

    def __init__(self, boot: Callable[[], Any]) -> None:
        self.boot = boot

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        self.boot()


def worker_broker(boot: Callable[[], Any]) -> dramatiq.Broker:
    """The broker `worker.tasks` installs when none is: no I/O; `boot` runs at process_boot."""
    settings = _settings()
    url = settings.redis_url.get_secret_value() if settings.redis_url else None
    broker = make_broker(url, namespace=settings.redis_namespace, ping=False)
    broker.add_middleware(ProcessBoot(boot))
    if url:  # `dramatiq worker.tasks`: heartbeats for /healthz (issue 16)
        broker.add_middleware(HeartbeatMiddleware(settings))
    return broker


def boot_worker(actors: Mapping[str, Any]) -> Runtime:
    """The process's runtime, built and warmed up once (see the module docstring)."""
    with _lock:
        existing = current_runtime()
        if existing is not None:
            return existing
        settings = _settings()
        configure_logging(settings.log_format, settings.log_level)
        if settings.redis_url is not None:
            check_redis(settings.redis_url.get_secret_value())
        for name in EAGER_MODULES:
            importlib.import_module(name)
        runtime = Runtime(settings, queue=DramatiqQueue(actors))
        warm_up(runtime)
        install_runtime(runtime)
        log.info("worker_booted", modules=len(EAGER_MODULES))
        return runtime


def warm_up(runtime: Runtime) -> None:
    """Open the store and load the rules and matcher now, on one thread."""
    configure_mappers()
    with runtime.store().session() as session:
        session.execute(select(SyncState).limit(1)).first()
    runtime.delivery_store()
    try:
        rules = runtime.rules()
        runtime.matcher(rules)
    except LifecycleError as exc:
        log.error("rules_unavailable_at_boot", error=str(exc))
