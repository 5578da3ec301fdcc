"""The public listener's Starlette app: `GET /healthz` and `POST /stripe/webhook`, nothing else.

Everything else (any other path, or another method on these paths) answers 404: the console,
the report, /metrics and the JSON API live on the console listener (worker/console), behind a
login. Dependencies (store, Redis, clock, what a webhook enqueues) are passed in, so tests build
the app against real local services without globals. Health logic lives in `worker.web.health`,
metric content in `worker.web.metrics`; this module only mounts them (`health_routes` serves
both listeners: /healthz here, /metrics on the console). Every request writes one structured
access line (`http_request`: method, path without its query string, status, duration in ms).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

import redis
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from worker.logs import get_logger
from worker.settings import Settings
from worker.store.db import Store
from worker.web.health import UNHEALTHY, Thresholds, assess, gather
from worker.web.metrics import make_registry

access_log = get_logger("web")


def health_routes(settings: Settings, store: Store, *, clock: Callable[[], datetime],
                  redis_client: redis.Redis | None = None) -> tuple[list[Route], Callable]:
    """`/healthz` and `/metrics` routes (the public listener mounts the first, the console the
    second) and the facts reader."""
    started_at = clock()
    limits = Thresholds.from_settings(settings)

    def facts():  # noqa: ANN202
        return gather(settings, store, redis_client, started_at=started_at, now=clock())

    registry = make_registry(store, clock, facts=facts, redis_client=redis_client,
                             namespace=settings.redis_namespace, stale_s=limits.heartbeat_stale_s)

    async def healthz(_: Request) -> JSONResponse:
        body = await run_in_threadpool(lambda: assess(facts(), clock(), limits))
        return JSONResponse(body, status_code=503 if body["status"] == UNHEALTHY else 200)

    async def metrics(_: Request) -> Response:
        return Response(await run_in_threadpool(generate_latest, registry), media_type=CONTENT_TYPE_LATEST)

    return [Route("/healthz", healthz, methods=["GET"]), Route("/metrics", metrics, methods=["GET"])], facts


def create_app(settings: Settings, store: Store, *, clock: Callable[[], datetime],
               redis_client: redis.Redis | None = None,
               extra_routes: list[Route] | None = None) -> Starlette:
    """The public app; `extra_routes` are the webhook's (worker.web.webhook.webhook_routes)."""
    routes, _ = health_routes(settings, store, clock=clock, redis_client=redis_client)
    healthz = [r for r in routes if r.path == "/healthz"]
    app = Starlette(routes=[*healthz, *(extra_routes or [])])
    app.add_middleware(AccessLog)
    allowed = {("GET", "/healthz"), ("HEAD", "/healthz"), *(("POST", r.path) for r in extra_routes or [])}
    # a webhook path with a parameter (/stripe/webhook/{account}): POST to what its route matches
    patterns = [r.path_regex for r in extra_routes or [] if "{" in r.path]
    return _only(app, allowed, patterns)


def _only(app: Starlette, allowed: set[tuple[str, str]], post_patterns: list | None = None):  # noqa: ANN202
    """404 (not 405) for every method and path outside `allowed`: the public port reveals nothing."""
    not_found = PlainTextResponse("Not Found", status_code=404)

    def permitted(method: str, path: str) -> bool:
        return (method, path) in allowed or (method == "POST" and any(p.match(path) for p in post_patterns or ()))

    async def public(scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] == "http" and not permitted(scope["method"], scope["path"]):
            await not_found(scope, receive, send)
            return
        await app(scope, receive, send)

    public.state = app.state  # type: ignore[attr-defined]
    return public


class AccessLog:
    """One JSON line per request; the path never carries its query string (it may hold data)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            access_log.info("http_request", method=scope.get("method"), path=scope.get("path", "")[:200],
                            status=status["code"], duration_ms=round((time.perf_counter() - started) * 1000, 1))
