"""The console listener's Starlette app: login, pages, JSON API, /report, /metrics, static files.

    app = create_console_app(settings, store, clock=utc_now, enqueue=send_now)

Order of the gates (outermost first): the signed session cookie (SessionMiddleware:
itsdangerous, HttpOnly, SameSite=strict, Secure when CONSOLE_SECURE_COOKIE), then
`ConsoleGuard` (who is it, CSRF, security headers). CONSOLE_SECRET signs the cookie; without
it a random secret is made per process (logins do not survive a restart; a warning says so).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from worker.console.auth import MIN_TOKEN, Access, access_from, refuse_unsafe_bind
from worker.console.context import ConsoleContext
from worker.console.guard import ConsoleGuard, csrf_token
from worker.console.render import render
from worker.logs import get_logger
from worker.settings import Settings
from worker.store.db import Store

STATIC = Path(__file__).parent / "static"
SESSION_MAX_AGE_S = 12 * 3600
STATIC_CACHE = "public, max-age=86400"
log = get_logger("console")


def plotly_js_path() -> Path:
    """The plotly.min.js the plotly package ships (served once, cached; never inlined)."""
    import plotly  # noqa: PLC0415

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def create_console_app(settings: Settings, store: Store, *, clock: Callable[[], datetime],
                       enqueue: Callable[[list[int]], None] | None = None,
                       access: Access | None = None, redis_client: Any = None) -> Starlette:
    from worker.console.api import api_routes  # noqa: PLC0415
    from worker.console.pages import page_routes  # noqa: PLC0415
    from worker.web.app import health_routes  # noqa: PLC0415

    access = access or access_from(settings)
    refuse_unsafe_bind(settings, access)
    if not access.users and not settings.console_proxy_user_header:
        log.warning("console_without_users", fix="Set CONSOLE_USERS to log in to the console pages.")
    if access.weak_tokens():
        log.warning("console_weak_api_tokens", tokens=access.weak_tokens(),
                    fix=f"Use API tokens of at least {MIN_TOKEN} random characters.")
    secret = settings.console_secret.get_secret_value() if settings.console_secret else None
    if not secret:
        log.warning("console_secret_generated", reason="CONSOLE_SECRET is not set: sessions end when "
                    "this process restarts and are not shared between console processes")
        secret = secrets.token_urlsafe(48)
    context = ConsoleContext(settings, store, clock, enqueue)
    # /metrics: the same registry as the health checks (worker.web.health/metrics), token-guarded
    metrics = next(r for r in health_routes(settings, store, clock=clock, redis_client=redis_client)[0]
                   if r.path == "/metrics")

    async def plotly_js(_: Request) -> Response:
        return FileResponse(plotly_js_path(), media_type="text/javascript", headers={"Cache-Control": STATIC_CACHE})

    routes = [
        *login_routes(access),
        metrics,
        Route("/static/vendor/plotly.min.js", plotly_js),
        Mount("/static", app=_CachedStatic(directory=STATIC), name="static"),
        *api_routes(context),
        *page_routes(context),
    ]
    proxies = frozenset(p.strip() for p in settings.console_trusted_proxies.split(",") if p.strip())
    middleware = [
        Middleware(SessionMiddleware, secret_key=secret, session_cookie="lifecycle_console",
                   max_age=SESSION_MAX_AGE_S, same_site="strict", https_only=settings.console_secure_cookie),
        Middleware(ConsoleGuard, access=access, proxy_header=settings.console_proxy_user_header,
                   trusted_proxies=proxies),
    ]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.context = context
    return app


class _CachedStatic(StaticFiles):
    """Vendored CSS/JS with a cache lifetime (the guard leaves /static/ cacheable)."""

    def file_response(self, *args, **kwargs) -> Response:  # noqa: ANN002, ANN003
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = STATIC_CACHE
        return response


def safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no host, no `//`) is followed after login."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/accounts"
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else "/accounts"


def login_routes(access: Access) -> list[Route]:
    async def login_form(request: Request) -> Response:
        return render(request, "login.html", {"next": safe_next(request.query_params.get("next")),
                                              "csrf": csrf_token(request.session)})

    async def login(request: Request) -> Response:
        form = await request.form()
        name, password = str(form.get("username", ""))[:200], str(form.get("password", ""))[:1000]
        target = safe_next(str(form.get("next", "")))
        client = request.client.host if request.client else "?"
        keys = (f"user:{name}", f"ip:{client}")
        if access.throttle.blocked(*keys):
            log.warning("console_login_throttled", user=name, client=client)
            return render(request, "login.html", {"next": target, "csrf": csrf_token(request.session),
                                                  "error": "Too many failed logins: wait a few minutes."},
                          status_code=429, headers={"Retry-After": str(int(access.throttle.window))})
        from starlette.concurrency import run_in_threadpool  # noqa: PLC0415

        if not await run_in_threadpool(access.check_password, name, password):
            access.throttle.fail(*keys)
            log.warning("console_login_failed", user=name, client=client)
            return render(request, "login.html", {"next": target, "csrf": csrf_token(request.session),
                                                  "error": "Wrong user name or password."}, status_code=401)
        access.throttle.clear(f"user:{name}")
        request.session.clear()  # a fresh session (and CSRF token) on login: no fixation
        request.session["user"] = name
        csrf_token(request.session)
        log.info("console_login", user=name, client=client)
        return RedirectResponse(target, status_code=303)

    async def logout(request: Request) -> Response:
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    return [Route("/login", login_form, methods=["GET"]), Route("/login", login, methods=["POST"]),
            Route("/logout", logout, methods=["POST"])]
