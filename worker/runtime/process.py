"""Assembling the long-running processes: `run` (all in one), `scheduler`, `web`.

`run` is the embedded default: in-process broker (or Redis when REDIS_URL is set), worker
threads, the scheduler, and the web server when WEB_PORT is set. SIGTERM or Ctrl-C stops it
cleanly: scheduler first (no new work), then web, then the workers finish what they hold.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from datetime import datetime, timezone

import dramatiq
import uvicorn
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from worker.errors import ConfigError
from worker.logs import get_logger
from worker.runtime.broker import check_redis, install, make_broker
from worker.runtime.leader import LocalLeader, RedisLeader
from worker.runtime.scheduler import TickScheduler, standard_jobs
from worker.settings import Settings
from worker.store.db import open_store

log = get_logger("process")


def utc_now() -> datetime:
    """The wall clock, read only by process entry points."""
    return datetime.now(timezone.utc)


def _redis_url(settings: Settings) -> str | None:
    return settings.redis_url.get_secret_value() if settings.redis_url else None


def _leader(settings: Settings):  # noqa: ANN202
    url = _redis_url(settings)
    if url is None:
        return LocalLeader()
    return RedisLeader(check_redis(url), key=f"{settings.redis_namespace}:scheduler-leader",
                       ttl_ms=settings.leader_ttl_ms)


def build_scheduler(settings: Settings, scheduler_cls, clock: Callable[[], datetime] = utc_now) -> TickScheduler:  # noqa: ANN001
    from worker import tasks  # noqa: PLC0415

    return TickScheduler(scheduler_cls(timezone=timezone.utc), _leader(settings),
                         standard_jobs(settings, tasks.PERIODIC),
                         leader_ttl_ms=settings.leader_ttl_ms, clock=clock)


def build_web(settings: Settings, *, workers_in_process: bool):  # noqa: ANN201
    """The web app. A webhook enqueues a re-fetch for the workers; a stand-alone embedded `web`
    (no Redis, so no worker would ever read the queue) re-fetches inline instead."""
    from worker import pipeline, tasks  # noqa: PLC0415
    from worker.web.app import create_app  # noqa: PLC0415
    from worker.web.webhook import webhook_routes  # noqa: PLC0415

    def enqueue_refetch(object_type: str, object_id: str) -> None:
        if settings.embedded and not workers_in_process:
            pipeline.refetch(settings, object_type, object_id, utc_now())
        else:
            tasks.refetch.send(object_type, object_id, utc_now().isoformat())

    store = open_store(settings.database_url.get_secret_value())
    url = _redis_url(settings)
    return create_app(settings, store, clock=utc_now, redis_client=check_redis(url) if url else None,
                      extra_routes=webhook_routes(settings, enqueue_refetch, utc_now))


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum, _frame) -> None:  # noqa: ANN001
        log.info("stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run_all(settings: Settings) -> None:
    """The embedded all-in-one process."""
    open_store(settings.database_url.get_secret_value()).engine.dispose()  # migrate once, fail early
    broker = install(make_broker(_redis_url(settings), namespace=settings.redis_namespace))
    workers = dramatiq.Worker(broker, worker_threads=settings.worker_threads, worker_timeout=200)
    scheduler = build_scheduler(settings, BackgroundScheduler)
    stop = threading.Event()
    _stop_on_signals(stop)
    web_server = _start_web(settings) if settings.web_port else None
    workers.start()
    scheduler.start()
    log.info("started", embedded=settings.embedded, web_port=settings.web_port,
             worker_threads=settings.worker_threads)
    while not stop.wait(0.5):
        pass
    scheduler.shutdown()
    if web_server is not None:
        web_server.should_exit = True
    workers.stop(timeout=10_000)
    log.info("stopped")


def _start_web(settings: Settings) -> uvicorn.Server:
    config = uvicorn.Config(build_web(settings, workers_in_process=True), host=settings.web_host, port=settings.web_port,
                            log_config=None, access_log=False)
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, name="web", daemon=True).start()
    return server


def run_scheduler(settings: Settings) -> None:
    """The stand-alone scheduler process: needs Redis (queue and leader lock)."""
    if settings.embedded:
        raise ConfigError(
            "The scheduler process needs REDIS_URL (its jobs enqueue to Redis and it elects a leader there).",
            fix="Set REDIS_URL, or use `stripe-lifecycle run` for the embedded all-in-one process.",
        )
    install(make_broker(_redis_url(settings), namespace=settings.redis_namespace))
    scheduler = build_scheduler(settings, BlockingScheduler)

    def handler(signum, _frame) -> None:  # noqa: ANN001
        log.info("stopping", signal=signal.Signals(signum).name)
        scheduler.shutdown()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    log.info("started", role="scheduler")
    scheduler.start()  # blocks until shutdown
    log.info("stopped")


def run_web(settings: Settings) -> None:
    if not settings.embedded:
        install(make_broker(_redis_url(settings), namespace=settings.redis_namespace))
    uvicorn.run(build_web(settings, workers_in_process=False), host=settings.web_host, port=settings.web_port or 8000,
                log_config=None, access_log=False)
