"""The Starlette application: /healthz, /metrics, the Stripe webhook and the report page.

Dependencies (store, Redis, clock, what a webhook enqueues) are passed in, so tests build the
app against real local services without globals.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import redis
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from worker.report.web import report_routes
from worker.settings import Settings
from worker.store.db import Store
from worker.web.metrics import last_sync_at, make_registry


def create_app(settings: Settings, store: Store, *, clock: Callable[[], datetime],
               redis_client: redis.Redis | None = None,
               extra_routes: list[Route] | None = None) -> Starlette:
    registry = make_registry(store, clock)

    def health() -> dict[str, Any]:
        body: dict[str, Any] = {"database": _probe_database(store), "redis": _probe_redis(redis_client)}
        last = last_sync_at(store) if body["database"] == "ok" else None
        body["last_sync_age_seconds"] = round((clock() - last).total_seconds()) if last else None
        healthy = body["database"] == "ok" and body["redis"] in ("ok", "not configured")
        body["status"] = "ok" if healthy else "unhealthy"
        return body

    # Database and Redis probes block: they run in a thread, never on the event loop that
    # also answers Stripe's webhooks.
    async def healthz(_: Request) -> JSONResponse:
        body = await run_in_threadpool(health)
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

    async def metrics(_: Request) -> Response:
        return Response(await run_in_threadpool(generate_latest, registry), media_type=CONTENT_TYPE_LATEST)

    routes = [Route("/healthz", healthz), Route("/metrics", metrics),
              *report_routes(settings, store, clock), *(extra_routes or [])]
    return Starlette(routes=routes)


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
