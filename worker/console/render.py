"""Jinja2 rendering for the console pages (autoescaped; no inline script in any template)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from worker.console.guard import csrf_token
from worker.core.money import format_minor
from worker.logs import redact

TEMPLATES = Path(__file__).parent / "templates"


def _money(minor: int | None, currency: str | None) -> str:
    if minor is None or not currency:
        return "—"
    return format_minor(int(minor), currency)


def _date(value: Any, with_time: bool = False) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


def _json_data(value: Any) -> str:
    """JSON for a `<script type="application/json">` data block (never executed); `<` escaped
    so the text cannot close the element."""
    return json.dumps(value, default=str).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


ENV = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                  trim_blocks=True, lstrip_blocks=True)
ENV.filters.update(money=_money, date=_date, json_data=_json_data, redact=lambda text: redact(str(text)))


def render(request: Request, template: str, values: dict[str, Any], *, status_code: int = 200,
           headers: dict[str, str] | None = None) -> HTMLResponse:
    state = request.scope.get("state") or {}
    csrf = csrf_token(request.session) if "session" in request.scope else ""
    body = ENV.get_template(template).render(
        **{"user": state.get("actor"), "csrf": csrf, "path": request.url.path, **values})
    return HTMLResponse(body, status_code=status_code, headers=headers)
