"""Assembling the long-running processes: `run` (all in one), `scheduler`, `web`.

`run` is the embedded default: in-process broker (or Redis when REDIS_URL is set), worker
threads, the scheduler, the public web listener when WEB_PORT is set and the console listener
when CONSOLE_PORT is set. `web` serves both listeners: the public one (webhook, /healthz) on
WEB_HOST:WEB_PORT (default 8000) and the console on CONSOLE_HOST:CONSOLE_PORT (default
127.0.0.1:8001). SIGTERM or Ctrl-C stops it
cleanly: scheduler first (no new work), then web, then the workers finish what they hold.
"""

from __future__ import annotations

import signal
import threading
import time
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
    from worker.runtime.heartbeat import Beacon, heartbeats_for  # noqa: PLC0415

    beacon = Beacon(heartbeats_for(settings), "scheduler", clock)
    return TickScheduler(scheduler_cls(timezone=timezone.utc), _leader(settings),
                         standard_jobs(settings, tasks.PERIODIC),
                         leader_ttl_ms=settings.leader_ttl_ms, clock=clock, heartbeat=beacon.beat)


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


def build_console(settings: Settings, *, workers_in_process: bool):  # noqa: ANN201
    """The console app (worker.console). A re-driven delivery is sent at once when a worker can
    read the queue; otherwise the reconciler of the `run`/`scheduler` process picks it up."""
    from worker.console.app import create_console_app  # noqa: PLC0415

    enqueue = None
    if workers_in_process or not settings.embedded:
        from worker import tasks  # noqa: PLC0415

        def enqueue(ids: list[int]) -> None:
            for delivery_id in ids:
                tasks.deliver.send(delivery_id)

    store = open_store(settings.database_url.get_secret_value())
    url = _redis_url(settings)
    return create_console_app(settings, store, clock=utc_now, enqueue=enqueue,
                              redis_client=check_redis(url) if url else None)


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
    _add_heartbeat(broker, settings)
    workers = dramatiq.Worker(broker, worker_threads=settings.worker_threads, worker_timeout=200)
    scheduler = build_scheduler(settings, BackgroundScheduler)
    stop = threading.Event()
    _stop_on_signals(stop)
    web_server = _start_web(settings) if settings.web_port else None
    console_server = _serve_in_thread(build_console(settings, workers_in_process=True), settings.console_host,
                                      settings.console_port, "console") if settings.console_port else None
    workers.start()
    scheduler.start()
    log.info("started", embedded=settings.embedded, web_port=settings.web_port, console_port=settings.console_port,
             worker_threads=settings.worker_threads)
    while not stop.wait(0.5):
        pass
    scheduler.shutdown()
    for server in (web_server, console_server):
        if server is not None:
            server.should_exit = True
    workers.stop(timeout=10_000)
    log.info("stopped")


class _Server(uvicorn.Server):
    """uvicorn's server, saying which address it bound (PORT may have chosen it)."""

    async def startup(self, sockets=None) -> None:  # noqa: ANN001
        await super().startup(sockets)
        for server in getattr(self, "servers", []):
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                log.info("web_listening", address=f"http://{host}:{port}")


def _add_heartbeat(broker: dramatiq.Broker, settings: Settings) -> None:
    """Worker heartbeats (and, with Redis, shared Stripe request counters) for /healthz and /metrics."""
    from worker.runtime.heartbeat import HeartbeatMiddleware  # noqa: PLC0415

    if not any(isinstance(m, HeartbeatMiddleware) for m in broker.middleware):
        broker.add_middleware(HeartbeatMiddleware(settings))


def _start_web(settings: Settings) -> uvicorn.Server:
    return _serve_in_thread(build_web(settings, workers_in_process=True), settings.web_host, settings.web_port, "web")


def _serve_in_thread(app, host: str, port: int, name: str) -> uvicorn.Server:  # noqa: ANN001
    """Serve `app` from a thread; a listener that cannot start (port in use) is a ConfigError."""
    server = _Server(uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    if not server.started:
        server.should_exit = True
        variable = "CONSOLE_HOST/CONSOLE_PORT" if name == "console" else "WEB_HOST/WEB_PORT (or PORT)"
        raise ConfigError(f"The {name} listener could not start on {host}:{port} (is the port in use?).",
                          fix=f"Free the port or set {variable} to another address.")
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
    """Both listeners: the console in a thread, the public one in the main thread (signals)."""
    if not settings.embedded:
        install(make_broker(_redis_url(settings), namespace=settings.redis_namespace))
    port = settings.web_port or 8000
    console_port = settings.console_port or 8001
    console = _serve_in_thread(build_console(settings, workers_in_process=False), settings.console_host,
                               console_port, "console")
    log.info("started", role="web", web_port=port, console_host=settings.console_host, console_port=console_port)
    server = _Server(uvicorn.Config(build_web(settings, workers_in_process=False), host=settings.web_host,
                                    port=port, log_config=None, access_log=False))
    try:
        server.run()
    finally:
        console.should_exit = True
    if not server.started:
        raise ConfigError(f"The web server could not listen on {settings.web_host}:{port}.",
                          fix="Free the port or set WEB_PORT (or PORT) and WEB_HOST to an address this host has.")
