"""Assembling the long-running processes: `run` (all in one), `scheduler`, `web`.

Each builds its one `Runtime` (worker.runtime.runtime) and installs it; the work goes through
its queue port (dramatiq actors of `worker.tasks`, or inline for a stand-alone embedded `web`).
`run` is the embedded default: in-process broker (or Redis when REDIS_URL is set), worker
threads, the scheduler, the public web listener when WEB_PORT is set and the console listener
when CONSOLE_PORT is set. `web` serves both listeners: the public one (webhook, /healthz) on
WEB_HOST:WEB_PORT (default 8000) and the console on CONSOLE_HOST:CONSOLE_PORT (default
127.0.0.1:8001). SIGTERM or Ctrl-C stops it
cleanly: scheduler first (no new work), then web, then the workers finish what they hold.
"""

from __future__ import annotations

import asyncio

import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from types import FrameType

import dramatiq
import uvicorn
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from starlette.applications import Starlette

from worker import tasks
from worker.console.app import create_console_app
from worker.errors import ConfigError
from worker.logs import get_logger
from worker.runtime.broker import check_redis, install, make_broker
from worker.runtime.current import install_runtime
from worker.runtime.heartbeat import Beacon, HeartbeatMiddleware, heartbeats_for
from worker.runtime.leader import Leadership, LocalLeader, RedisLeader
from worker.runtime.queue import DramatiqQueue, InlineQueue
from worker.runtime.runtime import Runtime
from worker.runtime.scheduler import TickScheduler, standard_jobs
from worker.settings import Settings
from worker.web.app import create_app
from worker.web.webhook import webhook_routes

log = get_logger("process")


def _redis_url(settings: Settings) -> str | None:
    return settings.redis_url.get_secret_value() if settings.redis_url else None


def _leader(settings: Settings) -> Leadership:
    url = _redis_url(settings)
    if url is None:
        return LocalLeader()
    return RedisLeader(check_redis(url), key=f"{settings.redis_namespace}:scheduler-leader",
                       ttl_ms=settings.leader_ttl_ms)


def build_scheduler(runtime: Runtime, scheduler_cls: type[BaseScheduler],
                    clock: Callable[[], datetime] | None = None) -> TickScheduler:
    """The scheduler whose jobs go through `runtime.queue.periodic`, beating for /healthz."""
    settings = runtime.settings
    clock = clock or runtime.clock
    beacon = Beacon(heartbeats_for(settings), "scheduler", clock)
    return TickScheduler(scheduler_cls(timezone=timezone.utc), _leader(settings),
                         standard_jobs(settings, runtime.queue),
                         leader_ttl_ms=settings.leader_ttl_ms, clock=clock, heartbeat=beacon.beat)


def dramatiq_runtime(settings: Settings) -> Runtime:
    """The runtime of a process whose work goes to the actors (installed as the process's)."""
    runtime = Runtime(settings, queue=DramatiqQueue(tasks.BY_NAME))
    install_runtime(runtime)
    return runtime


def build_web(runtime: Runtime) -> Starlette:
    """The public app. A webhook enqueues a re-fetch through the runtime's queue: a message for
    the workers, or — a stand-alone embedded `web`, whose queue is inline — the re-fetch itself."""
    settings = runtime.settings
    url = _redis_url(settings)

    def enqueue_refetch(object_type: str, object_id: str, account: str, *, event_id: str | None = None) -> None:
        runtime.queue.refetch(object_type, object_id, runtime.clock(), account, event_id=event_id)

    return create_app(settings, runtime.store(), clock=runtime.clock,
                      redis_client=check_redis(url) if url else None,
                      extra_routes=webhook_routes(settings, enqueue_refetch, runtime.clock,
                                                  accounts=lambda: runtime.accounts(runtime.clock())))


def build_console(runtime: Runtime) -> Starlette:
    """The console app (worker.console). A re-driven delivery is sent at once when a worker can
    read the queue; otherwise (an inline queue: no worker here) the reconciler of the
    `run`/`scheduler` process picks it up."""
    settings = runtime.settings
    queue = runtime.queue

    def enqueue(ids: list[int]) -> None:
        for delivery_id in ids:
            queue.deliver(delivery_id)

    url = _redis_url(settings)
    return create_console_app(settings, runtime.store(), clock=runtime.clock,
                              enqueue=None if queue.in_process else enqueue,
                              redis_client=check_redis(url) if url else None)


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run_all(settings: Settings) -> None:
    """The embedded all-in-one process."""
    broker = install(make_broker(_redis_url(settings), namespace=settings.redis_namespace), tasks.ACTORS)
    _add_heartbeat(broker, settings)
    runtime = dramatiq_runtime(settings)
    runtime.store()  # migrate once, fail early
    workers = dramatiq.Worker(broker, worker_threads=settings.worker_threads, worker_timeout=200)
    scheduler = build_scheduler(runtime, BackgroundScheduler)
    stop = threading.Event()
    _stop_on_signals(stop)
    web_server = _serve_in_thread(build_web(runtime), settings.web_host, settings.web_port,
                                  "web") if settings.web_port else None
    console_server = _serve_in_thread(build_console(runtime), settings.console_host,
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
    runtime.close()
    log.info("stopped")


class _Server(uvicorn.Server):
    """uvicorn's server, saying which address it bound (PORT may have chosen it), and waking
    once a second when idle instead of ten times: uvicorn's loop ticks every 0.1 s only to
    refresh the `date` header (once a second anyway) and to notice `should_exit`; with two
    listeners that was ~13 CPU-s per idle hour of `web` (issue #18). Requests are served by
    the event loop as they arrive, not by the tick; stopping takes up to a second longer."""

    TICK_S = 1.0

    async def main_loop(self) -> None:
        counter = 0  # a multiple of 10 at every tick: uvicorn's `on_tick` refreshes the date then
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 10) % 864000
            await asyncio.sleep(self.TICK_S)
            should_exit = await self.on_tick(counter)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        for server in getattr(self, "servers", []):
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                log.info("web_listening", address=f"http://{host}:{port}")


def _add_heartbeat(broker: dramatiq.Broker, settings: Settings) -> None:
    """Worker heartbeats (and, with Redis, shared Stripe request counters) for /healthz and /metrics."""
    if not any(isinstance(m, HeartbeatMiddleware) for m in broker.middleware):
        broker.add_middleware(HeartbeatMiddleware(settings))


def _serve_in_thread(app: Starlette, host: str, port: int, name: str) -> uvicorn.Server:
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
    install(make_broker(_redis_url(settings), namespace=settings.redis_namespace), tasks.ACTORS)
    scheduler = build_scheduler(dramatiq_runtime(settings), BlockingScheduler)

    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping", signal=signal.Signals(signum).name)
        scheduler.shutdown()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    log.info("started", role="scheduler")
    scheduler.start()  # blocks until shutdown
    log.info("stopped")


def run_web(settings: Settings) -> None:
    """Both listeners: the console in a thread, the public one in the main thread (signals)."""
    if settings.embedded:  # no worker would ever read an in-process queue here: work inline
        runtime = Runtime(settings, queue=InlineQueue())
        install_runtime(runtime)
    else:
        install(make_broker(_redis_url(settings), namespace=settings.redis_namespace), tasks.ACTORS)
        runtime = dramatiq_runtime(settings)
    port = settings.web_port or 8000
    console_port = settings.console_port or 8001
    console = _serve_in_thread(build_console(runtime), settings.console_host, console_port, "console")
    log.info("started", role="web", web_port=port, console_host=settings.console_host, console_port=console_port)
    server = _Server(uvicorn.Config(build_web(runtime), host=settings.web_host,
                                    port=port, log_config=None, access_log=False))
    try:
        server.run()
    finally:
        console.should_exit = True
    if not server.started:
        raise ConfigError(f"The web server could not listen on {settings.web_host}:{port}.",
                          fix="Free the port or set WEB_PORT (or PORT) and WEB_HOST to an address this host has.")
