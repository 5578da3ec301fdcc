"""The JSON API on the console listener (documented in `/api/openapi.json`, worker/console/openapi.py).

Bearer tokens (CONSOLE_API_TOKENS) or a logged-in session; POSTs from a session need the CSRF
header. Errors are `{"error": "<sentence>"}` with 400 (bad parameter), 404 (unknown) or 409
(not in a state that allows it), 503 (rules invalid).
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from worker.console import deliveries as dl
from worker.console.accounts import AccountQuery, explain_account, list_accounts, timeline
from worker.console.context import ConsoleContext
from worker.console.explain import explain_automations
from worker.console.openapi import OPENAPI
from worker.errors import LifecycleError, RuleFileError
from worker.logs import redact


class BadParameter(Exception):
    pass


def int_param(request: Request, name: str, default: int | None, *, low: int = 0, high: int = 10**9) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise BadParameter(f"{name}={raw[:40]!r} is not a whole number from {low} to {high}.")
    return int(raw)


def account_query(request: Request, rules, *, per_page: int = 50) -> AccountQuery:  # noqa: ANN001
    params = request.query_params
    stage = params.get("stage") or None
    if stage is not None and stage not in rules.stages.stages:
        raise BadParameter(f"stage={stage[:40]!r} is not a stage of stages.yaml (known: "
                           f"{', '.join(rules.stages.stages)}).")
    sort = params.get("sort") or "contact"
    if sort not in ("contact", "mrr", "renewal", "name"):
        raise BadParameter("sort must be one of contact, mrr, renewal, name.")
    order = params.get("order") or ("desc" if sort == "mrr" else "asc")
    if order not in ("asc", "desc"):
        raise BadParameter("order must be asc or desc.")
    at_risk = params.get("at_risk") in ("1", "true", "yes")
    return AccountQuery(q=(params.get("q") or "")[:200] or None, stage=stage, sort=sort, descending=order == "desc",
                        page=int_param(request, "page", 1, low=1) or 1,
                        per_page=int_param(request, "per_page", per_page, low=1, high=200) or per_page,
                        at_risk_days=(int_param(request, "days", 30, high=3650) if at_risk else None))


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": redact(message)}, status_code=status)


def guarded(handler):  # noqa: ANN001, ANN201
    async def wrapper(request: Request) -> Response:
        try:
            return await handler(request)
        except BadParameter as exc:
            return _error(400, str(exc))
        except RuleFileError as exc:
            return _error(503, f"{exc} " + "; ".join(exc.problems[:20]))
        except LifecycleError as exc:
            return _error(503, str(exc))
    return wrapper


def actor_of(request: Request) -> str:
    return (request.scope.get("state") or {}).get("actor") or "unknown"


def api_routes(ctx: ConsoleContext) -> list[Route]:
    store = ctx.store

    @guarded
    async def accounts(request: Request) -> Response:
        rules = ctx.rules()
        query = account_query(request, rules)

        def run() -> dict[str, Any]:
            with store.session() as session:
                return list_accounts(session, rules, query, now=ctx.clock(), memo=ctx.totals).to_json()
        return JSONResponse(await run_in_threadpool(run))

    def _account(contact_id: str, what: str) -> Any:
        rules = ctx.rules()
        with store.session() as session:
            found = explain_account(session, rules, contact_id, now=ctx.clock())
            if found is None:
                return None
            if what == "account":
                return found.snapshot.to_json()
            if what == "explain":
                return {"contact_id": contact_id, "lines": found.lines,
                        "automations": [e.to_json() for e in
                                        explain_automations(session, rules, found.snapshot, now=ctx.clock())]}
            return {"contact_id": contact_id, "events": [
                {**e, "at": e["at"].isoformat(), **({"renewal_date": e["renewal_date"].isoformat()}
                                                    if e.get("renewal_date") else {})}
                for e in timeline(session, contact_id)]}

    def account_view(what: str):  # noqa: ANN202
        @guarded
        async def handler(request: Request) -> Response:
            contact_id = request.path_params["contact_id"]
            found = await run_in_threadpool(_account, contact_id, what)
            if found is None:
                return _error(404, f"There is no contact {contact_id[:80]!r}.")
            return JSONResponse(found)
        return handler

    @guarded
    async def deliveries(request: Request) -> Response:
        state = request.query_params.get("state") or None
        if state is not None and state not in dl.STATES:
            raise BadParameter(f"state must be one of {', '.join(dl.STATES)}.")
        per_page = int_param(request, "per_page", 50, low=1, high=200) or 50
        page = int_param(request, "page", 1, low=1) or 1
        rows, total = await run_in_threadpool(
            lambda: dl.list_deliveries(store, state=state, contact_id=request.query_params.get("contact_id"),
                                       handler=request.query_params.get("handler"), limit=per_page,
                                       offset=(page - 1) * per_page))
        return JSONResponse({"deliveries": rows, "total": total, "page": page, "per_page": per_page})

    def _delivery_action(action: str):  # noqa: ANN202
        @guarded
        async def handler(request: Request) -> Response:
            raw = request.path_params["delivery_id"]
            if not raw.isdigit():
                return _error(404, f"There is no delivery {raw[:40]!r}.")
            delivery_id = int(raw)
            if await run_in_threadpool(dl.get_delivery, store, delivery_id) is None:
                return _error(404, f"There is no delivery {delivery_id}.")
            if action == "retry":
                done = await run_in_threadpool(lambda: dl.retry(store, [delivery_id], actor=actor_of(request),
                                                                now=ctx.clock(), enqueue=ctx.enqueue))
                ok, verb = bool(done["retried"]), "dead"
            else:
                done = await run_in_threadpool(lambda: dl.cancel(store, [delivery_id], actor=actor_of(request),
                                                                 now=ctx.clock()))
                ok, verb = bool(done["canceled"]), "pending or retrying (and not being sent right now)"
            if not ok:
                return _error(409, f"Delivery {delivery_id} is not {verb}.")
            return JSONResponse({**done, "delivery": await run_in_threadpool(dl.get_delivery, store, delivery_id)})
        return handler

    @guarded
    async def report(request: Request) -> Response:
        from worker.report.build import parse_since  # noqa: PLC0415

        try:
            since = parse_since(request.query_params.get("since"))
        except LifecycleError as exc:
            raise BadParameter(str(exc)) from None
        built = await run_in_threadpool(ctx.report, since)
        return JSONResponse(built.to_json())

    @guarded
    async def automation_explain(request: Request) -> Response:
        name, contact_id = request.path_params["name"], request.query_params.get("contact_id", "")
        rules = ctx.rules()
        if rules.automation(name) is None:
            return _error(404, f"There is no automation {name[:80]!r}.")

        def run() -> Any:
            with store.session() as session:
                found = explain_account(session, rules, contact_id, now=ctx.clock())
                if found is None:
                    return None
                return explain_automations(session, rules, found.snapshot, now=ctx.clock(), names=[name])[0].to_json()
        result = await run_in_threadpool(run)
        return JSONResponse(result) if result else _error(404, f"There is no contact {contact_id[:80]!r}.")

    async def audit(_: Request) -> Response:
        return JSONResponse({"entries": await run_in_threadpool(dl.audit_entries, store)})

    async def openapi(_: Request) -> Response:
        return JSONResponse(OPENAPI)

    return [
        Route("/api/openapi.json", openapi),
        Route("/api/accounts", accounts),
        Route("/api/accounts/{contact_id:path}/timeline", account_view("timeline")),
        Route("/api/accounts/{contact_id:path}/explain", account_view("explain")),
        Route("/api/accounts/{contact_id:path}", account_view("account")),
        Route("/api/deliveries", deliveries),
        Route("/api/deliveries/{delivery_id}/retry", _delivery_action("retry"), methods=["POST"]),
        Route("/api/deliveries/{delivery_id}/cancel", _delivery_action("cancel"), methods=["POST"]),
        Route("/api/report", report),
        Route("/api/automations/{name}/explain", automation_explain),
        Route("/api/audit", audit),
    ]
