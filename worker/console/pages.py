"""The console's HTML pages (server-rendered; data for charts in JSON data blocks that the
vendored /static/console.js draws with the served plotly.min.js — no inline script)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from worker.console import deliveries as dl
from worker.console.accounts import explain_account, list_accounts, timeline
from worker.console.api import BadParameter, account_query, actor_of, int_param
from worker.console.charts import firings_figure
from worker.console.context import ConsoleContext, ReportPending
from worker.console.explain import explain_automations
from worker.console.render import render
from worker.errors import LifecycleError, RuleFileError
from worker.logs import redact
from worker.store.models import Firing


def _problem(request: Request, exc: Exception, status: int) -> Response:
    lines = exc.problems if isinstance(exc, RuleFileError) else []
    return render(request, "error.html", {"message": redact(str(exc)), "lines": [redact(x) for x in lines]},
                  status_code=status)


def page(handler):  # noqa: ANN001, ANN201
    async def wrapper(request: Request) -> Response:
        try:
            return await handler(request)
        except BadParameter as exc:
            return _problem(request, exc, 400)
        except LifecycleError as exc:
            return _problem(request, exc, 503)
    return wrapper


def _month(column, dialect: str):  # noqa: ANN001, ANN202
    return func.to_char(column, "YYYY-MM") if dialect == "postgresql" else func.strftime("%Y-%m", column)


def _report_or_none(ctx: ConsoleContext):  # noqa: ANN202
    """The cached report, or None while its first build runs (the outcome numbers show then;
    these pages never wait for the build)."""
    try:
        return ctx.report(None, wait=False)
    except ReportPending:
        return None


def page_routes(ctx: ConsoleContext) -> list[Route]:
    store = ctx.store

    async def home(_: Request) -> Response:
        return RedirectResponse("/accounts", status_code=303)

    @page
    async def accounts(request: Request) -> Response:
        rules = ctx.rules()
        query = account_query(request, rules, per_page=50)

        def run() -> Any:
            with store.session() as session:
                return list_accounts(session, rules, query, now=ctx.clock(), memo=ctx.totals)
        found = await run_in_threadpool(run)
        return render(request, "accounts.html", {"page": found, "query": query, "stages": list(rules.stages.stages),
                                                 "params": dict(request.query_params),
                                                 "currency": rules.source.mrr.currency})

    @page
    async def account(request: Request) -> Response:
        contact_id = request.path_params["contact_id"]
        rules = ctx.rules()

        def run() -> Any:
            with store.session() as session:
                found = explain_account(session, rules, contact_id, now=ctx.clock())
                if found is None:
                    return None
                return found, timeline(session, contact_id), explain_automations(
                    session, rules, found.snapshot, now=ctx.clock())
        result = await run_in_threadpool(run)
        if result is None:
            return render(request, "error.html", {"message": f"There is no contact {contact_id!r}."}, status_code=404)
        found, events, why = result
        return render(request, "account.html", {"a": found.snapshot, "lines": found.lines, "events": events,
                                                "why": why})

    @page
    async def automations(request: Request) -> Response:
        rules = ctx.rules()
        report = await run_in_threadpool(_report_or_none, ctx)
        return render(request, "automations.html", {"automations": rules.automations, "pending": report is None,
                                                    "outcomes": {a.name: a for a in report.automations} if report else {}})

    @page
    async def automation(request: Request) -> Response:
        rules = ctx.rules()
        name = request.path_params["name"]
        found = rules.automation(name)
        if found is None:
            return render(request, "error.html", {"message": f"There is no automation {name!r}."}, status_code=404)
        contact_id = (request.query_params.get("contact_id") or "").strip()[:255]

        def run() -> Any:
            with store.session() as session:
                month = _month(Firing.fired_at, store.engine.dialect.name)
                rows = session.execute(select(month, Firing.arm, func.count()).where(Firing.automation == name)
                                       .group_by(month, Firing.arm).order_by(month)).all()
                why, missing = None, False
                if contact_id:
                    acct = explain_account(session, rules, contact_id, now=ctx.clock())
                    if acct is None:
                        missing = True
                    else:
                        why = explain_automations(session, rules, acct.snapshot, now=ctx.clock(), names=[name])[0]
                return rows, why, missing
        rows, why, missing = await run_in_threadpool(run)
        report = await run_in_threadpool(_report_or_none, ctx)
        outcome = next((a for a in report.automations if a.name == name), None) if report else None
        return render(request, "automation.html", {
            "a": found, "outcome": outcome, "figure": firings_figure(rows), "why": why, "contact_id": contact_id,
            "missing": missing, "verdict": getattr(outcome, "verdict", None),
            "r_currency": report.currency if report else None})

    @page
    async def deliveries(request: Request) -> Response:
        state = request.query_params.get("state") or None
        if state is not None and state not in dl.STATES:
            raise BadParameter(f"state must be one of {', '.join(dl.STATES)}.")
        number = int_param(request, "page", 1, low=1) or 1
        contact = (request.query_params.get("contact_id") or "").strip()[:255] or None
        rows, total = await run_in_threadpool(lambda: dl.list_deliveries(
            store, state=state, contact_id=contact, limit=50, offset=(number - 1) * 50))
        counts = await run_in_threadpool(dl.counts_by_state, store)
        audit = await run_in_threadpool(lambda: dl.audit_entries(store, limit=20))
        return render(request, "deliveries.html", {
            "rows": rows, "total": total, "state": state, "counts": counts, "states": dl.STATES, "page": number,
            "pages": max(1, -(-total // 50)), "contact_id": contact or "", "audit": audit,
            "done": request.query_params.get("done", "")})

    async def deliveries_action(request: Request) -> Response:
        form = await request.form()
        action = request.path_params["action"]
        ids = [int(v) for v in form.getlist("id") if str(v).isdigit()][:1000]
        actor = actor_of(request)
        if action == "retry":
            every_dead = form.get("all_dead") == "1"
            done = await run_in_threadpool(lambda: dl.retry(store, None if every_dead else ids, actor=actor,
                                                            now=ctx.clock(), enqueue=ctx.enqueue))
            message = f"re-drove {len(done['retried'])}, skipped {len(done['skipped'])}"
        elif action == "cancel":
            done = await run_in_threadpool(lambda: dl.cancel(store, ids, actor=actor, now=ctx.clock()))
            message = f"canceled {len(done['canceled'])}, skipped {len(done['skipped'])}"
        else:
            return PlainTextResponse("Unknown action.\n", status_code=404)
        back = str(form.get("back") or "/deliveries")
        if not back.startswith("/") or back.startswith("//"):
            back = "/deliveries"
        sep = "&" if "?" in back else "?"
        from urllib.parse import quote  # noqa: PLC0415

        return RedirectResponse(f"{back}{sep}done={quote(message)}", status_code=303)

    @page
    async def revenue(request: Request) -> Response:
        from worker.report.build import parse_since  # noqa: PLC0415

        try:
            since = parse_since(request.query_params.get("since"))
        except LifecycleError as exc:  # a bad parameter is the client's error
            raise BadParameter(str(exc)) from None
        report = await run_in_threadpool(ctx.report, since)
        figures = await run_in_threadpool(ctx.report_figures, since)
        return render(request, "revenue.html", {"r": report, "figures": figures,
                                                "since": request.query_params.get("since", "")})

    async def rules_page(request: Request) -> Response:
        error, rules = None, None
        try:
            rules = ctx.rules()
        except LifecycleError as exc:
            error = exc
        return render(request, "rules.html", {
            "rules": rules, "load": ctx.last_load, "error": error, "folder": str(ctx.settings.rules_dir),
            "config": rules.model_dump(mode="json", exclude={"automations", "destinations"}) if rules else None})

    return [
        Route("/", home),
        Route("/accounts", accounts),
        Route("/accounts/{contact_id:path}", account),
        Route("/automations", automations),
        Route("/automations/{name}", automation),
        Route("/deliveries", deliveries),
        Route("/deliveries/{action}", deliveries_action, methods=["POST"]),
        Route("/revenue", revenue),
        Route("/report", revenue),
        Route("/rules", rules_page),
    ]
