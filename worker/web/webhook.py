"""Stripe webhook receiver (wiring): `POST /stripe/webhook` verifies and enqueues a re-fetch.

    routes = webhook_routes(settings, enqueue_refetch, clock)   # [] when no secret is set
    routes = webhook_routes(settings, enqueue_refetch, clock, accounts=lambda: runtime.accounts())

With `accounts` (several Stripe accounts, worker.sync.accounts) each account has its endpoint,
`POST /stripe/webhook/{name}`, verified with that account's `webhook_secret`, and
`/stripe/webhook` is the account `default`'s; `enqueue_refetch(type, id, account, event_id=…)`
then names the account the object is re-read from. An unknown account, or one without a signing secret,
answers 404 (nothing to verify with). The accounts are read at each request, so a rules edit
adding an account needs no restart.

The `Stripe-Signature` header (`t=…,v1=…`) must carry a v1 HMAC-SHA256 of `{t}.{raw body}`
under STRIPE_WEBHOOK_SECRET, with `t` within 300 s of `clock()` — as
`stripe.Webhook.construct_event` checks, but against the injected clock. A bad signature, a
stale timestamp, a body larger than any Stripe event (refused from its Content-Length, or
once the streamed body passes the limit, before it is all read), a body that is not an event
or an object id that is not shaped like a Stripe id answers 400 and nothing is enqueued. The event
payload is never trusted for state (it may be rendered in an older API version): only the
changed object's type and id are taken, and `enqueue_refetch(object_type, object_id,
event_id=…)` queues its re-fetch; the event id lets the re-fetch record the event as applied,
so the next poll does not fetch the object for it again (worker.sync.applied). The answer is
immediate (200).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable
from datetime import datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from worker.logs import get_logger
from worker.settings import Settings
from worker.store.models import DEFAULT_ACCOUNT
from worker.sync.accounts import StripeAccount
from worker.sync.incremental import event_target
from worker.web.metrics import WEBHOOKS_RECEIVED, WEBHOOKS_REJECTED, webhook_reject_reason

TOLERANCE_SECONDS = 300
MAX_BODY_BYTES = 1_000_000
STRIPE_ID = re.compile(r"[A-Za-z0-9_]{1,255}")
EVENT_TYPE = re.compile(r"[a-z0-9_.]{1,100}")
ACCOUNT_NAME = re.compile(r"[a-z0-9_-]{1,32}")
log = get_logger(__name__)


class BadWebhook(Exception):
    """The request is not a genuine, fresh Stripe event; the message says why (no secrets)."""


def verify_signature(body: bytes, header: str | None, secret: str, now: datetime,
                     tolerance: int = TOLERANCE_SECONDS) -> None:
    """Raise BadWebhook unless `header` signs `body` with `secret` within `tolerance` of `now`."""
    if not header:
        raise BadWebhook("no Stripe-Signature header")
    timestamp, signatures = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            timestamp = value
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not timestamp.isdigit() or not signatures:
        raise BadWebhook("the Stripe-Signature header has no timestamp or no v1 signature")
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, s) for s in signatures):
        raise BadWebhook("no v1 signature matches the body and STRIPE_WEBHOOK_SECRET")
    if abs(now.timestamp() - int(timestamp)) > tolerance:
        raise BadWebhook(f"the signature timestamp is more than {tolerance} s away from now")


def parse_event(body: bytes) -> dict:
    try:
        event = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadWebhook("the body is not JSON") from None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str) \
            or not isinstance(event.get("data"), dict) or not isinstance(event["data"].get("object"), dict):
        raise BadWebhook("the body is not a Stripe event (type, data.object)")
    # validated before anything logs them: a log line never carries an attacker's 20 KB string
    if not EVENT_TYPE.fullmatch(event["type"]):
        raise BadWebhook("the event's type is not shaped like a Stripe event type")
    if not (isinstance(event.get("id"), str) and STRIPE_ID.fullmatch(event["id"])):
        raise BadWebhook("the event's id is not shaped like a Stripe id")
    return event


def accept(body: bytes, header: str | None, secret: str, now: datetime) -> tuple[str, str, tuple[str, str] | None]:
    """(event id, type, re-fetch target or None) of a genuine event, else BadWebhook. CPU work
    (HMAC, JSON of up to 1 MB): the receiver runs it in a thread, off the event loop."""
    verify_signature(body, header, secret, now)
    event = parse_event(body)
    target = event_target(event)
    if target is not None and not STRIPE_ID.fullmatch(target[1]):
        raise BadWebhook("the event's object id is not shaped like a Stripe id")
    return event["id"], event["type"], target


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The raw body, refused (BadWebhook) as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BadWebhook("the body is larger than any Stripe event")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadWebhook("the body is larger than any Stripe event")
        chunks.append(chunk)
    return b"".join(chunks)


def webhook_routes(settings: Settings, enqueue_refetch: Callable[..., None],
                   clock: Callable[[], datetime], *,
                   accounts: Callable[[], list[StripeAccount]] | None = None) -> list[Route]:
    """The receiver's routes: without `accounts`, the default account's (none when
    STRIPE_WEBHOOK_SECRET is unset: receiver off); with them, one endpoint per account."""
    if accounts is not None:
        return _account_routes(accounts, enqueue_refetch, clock)
    if settings.stripe_webhook_secret is None:
        return []
    secret = settings.stripe_webhook_secret.get_secret_value()

    async def receive(request: Request) -> JSONResponse:
        return await _receive(request, secret, enqueue_refetch, clock)

    return [Route("/stripe/webhook", receive, methods=["POST"])]


def _account_routes(accounts: Callable[[], list[StripeAccount]], enqueue_refetch: Callable[..., None],
                    clock: Callable[[], datetime]) -> list[Route]:
    async def receive(request: Request) -> JSONResponse:
        name = request.path_params.get("account", DEFAULT_ACCOUNT)
        found = next((a for a in await run_in_threadpool(accounts) if a.name == name), None) \
            if ACCOUNT_NAME.fullmatch(name) else None
        if found is None or found.webhook_secret is None:
            WEBHOOKS_REJECTED.labels("unknown_account").inc()
            log.warning("webhook_rejected", account=name if ACCOUNT_NAME.fullmatch(name) else "(not a name)",
                        reason="no such account, or no webhook secret")
            return JSONResponse({"error": "no webhook endpoint for this Stripe account"}, status_code=404)

        def enqueue(object_type: str, object_id: str, *, event_id: str | None = None) -> None:
            enqueue_refetch(object_type, object_id, found.name, event_id=event_id)

        return await _receive(request, found.webhook_secret.get_secret_value(), enqueue, clock, found.name)

    return [Route("/stripe/webhook", receive, methods=["POST"]),
            Route("/stripe/webhook/{account}", receive, methods=["POST"])]


async def _receive(request: Request, secret: str, enqueue_refetch: Callable[..., None],
                   clock: Callable[[], datetime], account: str = DEFAULT_ACCOUNT) -> JSONResponse:
    """Verify one delivery and enqueue its re-fetch (module docstring)."""
    try:
        body = await read_body(request)
        event_id, kind, target = await run_in_threadpool(
            accept, body, request.headers.get("stripe-signature"), secret, clock())
    except BadWebhook as exc:
        WEBHOOKS_REJECTED.labels(webhook_reject_reason(str(exc))).inc()
        log.warning("webhook_rejected", reason=str(exc))
        return JSONResponse({"error": str(exc)}, status_code=400, headers={"Connection": "close"})
    WEBHOOKS_RECEIVED.inc()
    if target is None:
        return JSONResponse({"received": True, "ignored": kind})
    await run_in_threadpool(lambda: enqueue_refetch(*target, event_id=event_id))
    log.info("webhook_received", account=account, event_id=event_id, type=kind, object_type=target[0],
             object_id=target[1])
    return JSONResponse({"received": True})
