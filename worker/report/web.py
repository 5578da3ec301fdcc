"""GET /report: the same self-contained HTML page as `report --html`, built per request (wiring).

The rule files are read on each request (ops may have changed them); the page is built as of
the app's clock. A rules or configuration problem answers 503 with the plain sentence, never a
traceback. The query parameter `since=YYYY-MM-DD` works like `--since`; it is checked against
a short pattern first (400 otherwise), so no error message or log line ever carries an
arbitrary query string, and all the work runs in a thread, off the server's event loop.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from worker.errors import LifecycleError
from worker.logs import get_logger, redact
from worker.report.build import build_report, parse_since
from worker.report.html import render_html
from worker.rules.loader import load_rules
from worker.settings import Settings
from worker.store.db import Store

log = get_logger("report")
SINCE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ][0-9:.]{2,15}(?:Z|[+-]\d{2}:?\d{2})?)?")


def report_routes(settings: Settings, store: Store, clock: Callable[[], datetime]) -> list[Route]:
    """The `/report` route, for `worker.web.app.create_app`."""

    def page(since: str | None) -> str:
        rules = load_rules(settings.rules_dir, os.environ)
        return render_html(build_report(store, rules, now=clock(), since=parse_since(since)))

    async def report(request: Request) -> Response:
        since = request.query_params.get("since")
        if since is not None and not SINCE.fullmatch(since):
            return PlainTextResponse("The report start date (since) is not a date; use e.g. ?since=2026-01-01.\n",
                                     status_code=400)
        try:
            body = await run_in_threadpool(page, since)
        except LifecycleError as exc:
            log.warning("report_unavailable", error=redact(str(exc)))
            return PlainTextResponse(f"The report is unavailable: {redact(str(exc))}\n", status_code=503)
        return HTMLResponse(body)

    return [Route("/report", report, methods=["GET"])]
