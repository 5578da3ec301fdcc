"""Assembling the long-running processes: `run` (all in one), `scheduler`, `web`.

Each builds its one `Runtime` (worker.runtime.runtime) and installs it. `run` is the embedded
default: in-process broker (or Redis when REDIS_URL is set), worker threads running the
actors of `worker.tasks`, the scheduler, and the web server when WEB_PORT is set; its queue
is the dramatiq one over that broker. SIGTERM or Ctrl-C stops it cleanly: scheduler first (no
new work), then web, then the workers finish what they hold.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from types import FrameType

import dramatiq
import uvicorn
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from starlette.applications import Starlette

from worker.errors import ConfigError
from worker.logs import get_logger
from worker import tasks
from worker.runtime.broker import check_redis, install, make_broker
from worker.runtime.current import install_runtime
from worker.runtime.leader import LocalLeader, Leadership, RedisLeader
from worker.runtime.queue import DramatiqQueue, InlineQueue, Queue
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
    """The scheduler whose jobs go through `runtime.queue.periodic`."""
    settings = runtime.settings
    return TickScheduler(scheduler_cls(timezone=timezone.utc), _leader(settings),
                         standard_jobs(settings, runtime.queue),
                         leader_ttl_ms=settings.leader_ttl_ms, clock=clock or runtime.clock)


def dramatiq_runtime(settings: Settings) -> Runtime:
    """The runtime of a process whose work goes to the actors (installed as the process's)."""
    runtime = Runtime(settings, queue=DramatiqQueue(tasks.BY_NAME))
    install_runtime(runtime)
    return runtime


def build_web(runtime: Runtime) -> Starlette:
    """The web app. A webhook enqueues a re-fetch through the runtime's queue: a message for the
    workers, or — a stand-alone embedded `web`, whose queue is inline — the re-fetch itself."""
    settings = runtime.settings
    url = _redis_url(settings)
    return create_app(settings, runtime.store(), clock=runtime.clock,
                      redis_client=check_redis(url) if url else None,
                      extra_routes=webhook_routes(settings, runtime.queue.refetch, runtime.clock))


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run_all(settings: Settings) -> None:
    """The embedded all-in-one process."""
    broker = install(make_broker(_redis_url(settings), namespace=settings.redis_namespace), tasks.ACTORS)
    runtime = dramatiq_runtime(settings)
    runtime.store()  # migrate once, fail early
    workers = dramatiq.Worker(broker, worker_threads=settings.worker_threads, worker_timeout=200)
    scheduler = build_scheduler(runtime, BackgroundScheduler)
    stop = threading.Event()
    _stop_on_signals(stop)
    web_server = _start_web(runtime, settings.web_port) if settings.web_port else None
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
    runtime.close()
    log.info("stopped")


def _start_web(runtime: Runtime, port: int) -> uvicorn.Server:
    config = uvicorn.Config(build_web(runtime), host=runtime.settings.web_host, port=port,
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
    """The stand-alone web process: webhooks become messages (Redis), or re-fetches run inline
    when embedded (no worker would ever read an in-process queue here)."""
    if settings.embedded:
        queue: Queue = InlineQueue()
        runtime = Runtime(settings, queue=queue)
        install_runtime(runtime)
    else:
        install(make_broker(_redis_url(settings), namespace=settings.redis_namespace), tasks.ACTORS)
        runtime = dramatiq_runtime(settings)
    uvicorn.run(build_web(runtime), host=settings.web_host, port=settings.web_port or 8000,
                log_config=None, access_log=False)
