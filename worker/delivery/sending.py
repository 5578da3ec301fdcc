"""The steps of delivering a delivery row (wiring), shared by every delivery: a single
delivery is a batch of one (`worker.delivery.batch.attempt`), so these steps run once.

1. Claim the row with a lease (one conditional UPDATE, see `rows`). Rows already delivered or
   dead are skipped (the queue is at-least-once; this makes the actor idempotent); a row
   another worker holds, or one not due yet, is left alone.
2. Order per contact and target: while an earlier delivery of the same contact to the same
   target is still pending or retrying, this one waits (rescheduled shortly, no attempt
   counted). Only that contact's stream waits; other contacts go on.
3. Resolve the handler parameters from the CURRENT rules (rows hold no secrets): an automation,
   action or destination that was removed or changed kind makes the delivery dead, with the
   reason.
4. Run the handler with an `ActionContext` built from the firing's snapshot (or the push's
   contact JSON), the row's idempotency key and a send-time clock pinned to `now`.
5. Record: delivered; retrying with exponential backoff and jitter (honouring `Retry-After`);
   dead after `DELIVERY_MAX_ATTEMPTS` or on a permanent failure. `last_error` is redacted.
   One structured log line per delivery attempt.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from actions.base import ActionContext, ActionFailure, PermanentFailure
from actions.registry import get_handler
from worker.core.snapshot import parse_iso
from worker.delivery import rows
from worker.delivery.backoff import retry_delay
from worker.delivery.destinations import DESTINATION_TRIGGER
from worker.logs import get_logger, redact
from worker.rules.model import RuleSet
from worker.store.db import Store

log = get_logger("delivery")
MAX_ERROR_CHARS = 2000
DESTINATION_ARM = "none"  # destination pushes belong to no experiment arm


@dataclass(frozen=True)
class DeliveryPolicy:
    """The retry knobs, from the settings (DELIVERY_* variables)."""

    max_attempts: int | None = None
    backoff_base_s: float = 10.0
    backoff_max_s: float = 3600.0
    lease_s: float = 120.0
    retry_budget_s: float = 24 * 3600.0

    @classmethod
    def from_settings(cls, settings: Any) -> DeliveryPolicy:
        if settings is None:
            return cls()
        return cls(max_attempts=settings.delivery_max_attempts, backoff_base_s=settings.delivery_backoff_base_s,
                   backoff_max_s=settings.delivery_backoff_max_s, lease_s=settings.delivery_lease_s,
                   retry_budget_s=getattr(settings, "delivery_retry_budget_s", cls.retry_budget_s))


@dataclass(frozen=True)
class Outcome:
    """What one call did. `state`: delivered | retrying | dead (the row's new or existing
    final state), waiting (held back by an earlier delivery), leased (another worker holds
    it), not_due, missing. `next_attempt_at` is set for retrying and waiting."""

    state: str
    next_attempt_at: datetime | None = None


class Unresolvable(Exception):
    """The rules no longer describe this delivery (removed automation, action or destination)."""


@contextmanager
def autocommit(store: Store) -> Iterator[Connection]:
    """One pooled connection for the whole attempt, each statement its own transaction: the
    claim is a single atomic UPDATE, so nothing needs a longer transaction, and no BEGIN or
    COMMIT round trips are spent (delivery throughput is bound by round trips)."""
    with store.engine.connect() as conn:
        yield conn.execution_options(isolation_level="AUTOCOMMIT")


def unclaimed_outcomes(conn: Connection, ids: Sequence[int], now: datetime) -> dict[int, Outcome]:
    """Why each of `ids` was not claimed: missing, already final, not due yet, or leased."""
    if not ids:
        return {}
    found = rows.states_of(conn, list(ids))
    outcomes = {}
    for delivery_id in ids:
        row = found.get(delivery_id)
        if row is None:
            outcomes[delivery_id] = Outcome("missing")
        elif row.state in rows.FINAL:
            outcomes[delivery_id] = Outcome(row.state)
        elif row.next_attempt_at > now:
            outcomes[delivery_id] = Outcome("not_due", row.next_attempt_at)
        else:
            outcomes[delivery_id] = Outcome("leased")
    return outcomes


# --- resolving what to send ---------------------------------------------------------------


def send(row: Any, rules: RuleSet, *, now: datetime, settings: Any, http: Any) -> Exception | None:
    """Run the handler; None on success, else the failure (Unresolvable, ActionFailure, other)."""
    try:
        handler, params = resolve(row, rules)
        handler.run(build_context(row, now=now, settings=settings, http=http), params)
    except Exception as exc:  # noqa: BLE001  (every failure is recorded on the row)
        return exc
    return None


def resolve(row: Any, rules: RuleSet) -> tuple[Any, Any]:
    """The handler and its (validated, unrendered) params for this row, from the current rules."""
    if row.kind == "destination":
        index = _target_index(row.target)
        if index is None or index >= len(rules.destinations):
            raise Unresolvable(f"{row.target} is no longer in the rules (destinations: has "
                               f"{len(rules.destinations)} entries)")
        spec_handler, params, what = rules.destinations[index].handler, rules.destinations[index].params, row.target
    else:
        name, index = row.payload.get("automation"), int(row.payload.get("action_index", -1))
        automation = rules.automation(name)
        if automation is None:
            raise Unresolvable(f"automation '{name}' was removed from the rules")
        if not 0 <= index < len(automation.actions):
            raise Unresolvable(f"action #{index + 1} of automation '{name}' was removed from the rules")
        spec = automation.actions[index]
        spec_handler, params, what = spec.handler, spec.params, f"action #{index + 1} of automation '{name}'"
    if spec_handler != row.handler:
        raise Unresolvable(f"{what} is now a {spec_handler} action, not the {row.handler} it was when it fired")
    handler = get_handler(spec_handler)
    if handler is None:
        raise Unresolvable(f"{what} uses the unknown handler {spec_handler}")
    return handler, params


def _target_index(target: str) -> int | None:
    prefix, _, number = target.partition("#")
    return int(number) if prefix == "destination" and number.isdigit() else None


def build_context(row: Any, *, now: datetime, settings: Any, http: Any) -> ActionContext:
    """The handler's view of the delivery: the firing's data, or the destination push's."""
    common = {"idempotency_key": row.idempotency_key, "settings": settings, "now": lambda: now, "http": http,
              "extra": {"delivery_id": row.id, "attempt": row.attempts + 1, "kind": row.kind}}
    if row.kind == "destination":
        payload = row.payload
        return ActionContext.build(
            automation=row.target, trigger=DESTINATION_TRIGGER,
            occurrence=f"{DESTINATION_TRIGGER}:{row.contact_id}:{payload.get('changed_at')}",
            arm=DESTINATION_ARM, fired_at=_parse_time(payload.get("changed_at")) or row.created_at,
            contact=payload.get("contact") or {}, subscription=payload.get("subscription"),
            **{**common, "extra": {**common["extra"], "traits": payload.get("traits") or {}}},
        )
    contact, subscription = firing_view(row.snapshot or {}, row.subscription_id)
    return ActionContext.build(automation=row.automation, trigger=row.trigger, occurrence=row.occurrence,
                               arm=row.arm, fired_at=row.fired_at, contact=contact, subscription=subscription,
                               **common)


def firing_view(snapshot: dict[str, Any], subscription_id: str | None) -> tuple[dict[str, Any], dict | None]:
    """Contact and subscription JSON from `Firing.snapshot`.

    Accepts `{"contact": {...}, "subscription": {...} | None}` or the bare contact JSON (then
    the subscription is looked up in it by the firing's `subscription_id`).
    """
    if isinstance(snapshot.get("contact"), dict):
        return snapshot["contact"], snapshot.get("subscription")
    subscription = None
    if subscription_id:
        subscription = next((s for s in snapshot.get("subscriptions") or [] if s.get("id") == subscription_id), None)
    return snapshot, subscription


def _parse_time(value: str | None) -> datetime | None:
    return parse_iso(value) if value else None


# --- recording the result -----------------------------------------------------------------


def result_of(row: Any, failure: Exception | None, *, now: datetime, policy: DeliveryPolicy,
            rng: Callable[[], float]) -> tuple[dict[str, Any], Outcome]:
    if failure is None:
        return {"state": "delivered", "attempts": row.attempts + 1, "delivered_at": now}, Outcome("delivered")
    if isinstance(failure, Unresolvable):
        return {"state": "dead", "last_error": _error_text(failure)}, Outcome("dead")
    attempts = row.attempts + 1
    error = _error_text(failure)
    permanent = isinstance(failure, PermanentFailure) or (
        isinstance(failure, ActionFailure) and not failure.retryable)
    if permanent:
        return {"state": "dead", "attempts": attempts, "last_error": error}, Outcome("dead")
    if policy.max_attempts is not None and attempts >= policy.max_attempts:
        error = f"gave up after {attempts} attempts; last: {error}"
        return {"state": "dead", "attempts": attempts, "last_error": error[:MAX_ERROR_CHARS]}, Outcome("dead")
    retry_after = getattr(failure, "retry_after", None)
    delay = retry_delay(attempts, base_s=policy.backoff_base_s, cap_s=policy.backoff_max_s,
                        retry_after_s=retry_after, jitter=rng())
    due = now + timedelta(seconds=delay)
    if budget_spent(row, due, policy):
        hours = policy.retry_budget_s / 3600
        error = f"gave up after {attempts} attempts over the {hours:g} h retry budget; last: {error}"
        return {"state": "dead", "attempts": attempts, "last_error": error[:MAX_ERROR_CHARS]}, Outcome("dead")
    values = {"state": "retrying", "attempts": attempts, "last_error": error, "next_attempt_at": due,
              "enqueued_at": due}
    return values, Outcome("retrying", due)


def budget_spent(row: Any, due: datetime, policy: DeliveryPolicy) -> bool:
    """Whether a retry at `due` would fall outside the delivery's time budget (DELIVERY_RETRY_BUDGET_S,
    counted from the row's creation): a one-hour outage of a receiver is retried through, a
    receiver gone for good ends the delivery as dead after about a day, not after minutes."""
    created = getattr(row, "created_at", None)
    if created is None:
        return False
    if created.tzinfo is None:
        created = created.replace(tzinfo=due.tzinfo)
    return (due - created).total_seconds() > policy.retry_budget_s


def _error_text(failure: Exception) -> str:
    if isinstance(failure, (ActionFailure, Unresolvable)):
        text = str(failure)
    else:  # a bug or an unexpected library error: name it, retry like a transient failure
        text = f"{type(failure).__name__}: {failure}"
    return redact(text)[:MAX_ERROR_CHARS]


def log_attempt(row: Any, outcome: Outcome, values: dict[str, Any], held: bool) -> None:
    fields = {"delivery_id": row.id, "kind": row.kind, "handler": row.handler, "target": row.target,
              "contact_id": row.contact_id, "state": outcome.state,
              "attempts": values.get("attempts", row.attempts)}
    if values.get("last_error") and outcome.state != "delivered":
        fields["error"] = values["last_error"]
    if outcome.next_attempt_at is not None:
        fields["next_attempt_at"] = outcome.next_attempt_at.isoformat()
    if not held:
        log.warning("delivery_lease_lost", **fields)
    elif outcome.state == "dead":
        log.warning("delivery", **fields)
    else:
        log.info("delivery", **fields)
