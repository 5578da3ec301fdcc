"""The public listener's Starlette app: `GET /healthz` and `POST /stripe/webhook`, nothing else.

Everything else (any other path, or another method on these paths) answers 404: the console,
the report, /metrics and the JSON API live on the console listener (worker/console), behind a
login. Dependencies (store, Redis, clock, what a webhook enqueues) are passed in, so tests build the
app against real local services without globals.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import redis
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from worker.settings import Settings
from worker.store.db import Store
from worker.web.metrics import last_sync_at


def create_app(settings: Settings, store: Store, *, clock: Callable[[], datetime],
               redis_client: redis.Redis | None = None,
               extra_routes: list[Route] | None = None) -> Starlette:
    """The public app; `extra_routes` are the webhook's (worker.web.webhook.webhook_routes)."""
    async def healthz(_: Request) -> JSONResponse:
        body: dict[str, Any] = {"database": _probe_database(store), "redis": _probe_redis(redis_client)}
        last = last_sync_at(store) if body["database"] == "ok" else None
        body["last_sync_age_seconds"] = round((clock() - last).total_seconds()) if last else None
        healthy = body["database"] == "ok" and body["redis"] in ("ok", "not configured")
        body["status"] = "ok" if healthy else "unhealthy"
        return JSONResponse(body, status_code=200 if healthy else 503)

    routes = [Route("/healthz", healthz, methods=["GET"]), *(extra_routes or [])]
    allowed = {("GET", "/healthz"), ("HEAD", "/healthz"), *(("POST", r.path) for r in extra_routes or [])}
    return _only(Starlette(routes=routes), allowed)


def _only(app: Starlette, allowed: set[tuple[str, str]]):  # noqa: ANN202
    """404 (not 405) for every method and path outside `allowed`: the public port reveals nothing."""
    not_found = PlainTextResponse("Not Found", status_code=404)

    async def public(scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] == "http" and (scope["method"], scope["path"]) not in allowed:
            await not_found(scope, receive, send)
            return
        await app(scope, receive, send)

    public.state = app.state  # type: ignore[attr-defined]
    return public


def _probe_database(store: Store) -> str:
    try:
        with store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return "ok"
    except Exception:  # noqa: BLE001 - a health probe reports, it does not raise
        return "unreachable"


def _probe_redis(client: redis.Redis | None) -> str:
    if client is None:
        return "not configured"
    try:
        client.ping()
        return "ok"
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return "unreachable"
