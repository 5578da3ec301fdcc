"""`/healthz`: ok, degraded or unhealthy, with the check that failed and why (wiring + pure core).

`gather(...)` reads the facts (database and Redis reachable, heartbeats, last successful
sync/evaluate/measure, rule files valid, delivery backlog); `assess(facts, now, thresholds)`
is a pure function of them, so every state is tested by a table. The same facts feed
`/metrics` (`worker.web.metrics`), so an alert and the health page never disagree.

Checks (degraded → unhealthy):

- database, redis: unreachable → unhealthy.
- sync: last success older than HEALTH_SYNC_STALE_S → degraded; older than 4 × that, or never
  synced once HEALTH_STARTUP_GRACE_S after start → unhealthy.
- evaluate: last success older than HEALTH_EVALUATE_STALE_S → degraded.
- rules: a rule file is invalid → degraded (the processes keep the last good rules).
- workers, scheduler: a stale heartbeat (forgotten after 10 × HEALTH_HEARTBEAT_STALE_S), or a
  worker whose every message failed for that long → degraded; no fresh heartbeat of the role
  → unhealthy (with REDIS_URL after the grace; embedded once one has beaten).
- deliveries: a due delivery waited over HEALTH_SYNC_STALE_S, or deliveries went dead in the
  last 24 h → degraded.

HTTP 200 for ok and degraded (the listener itself works: keep it in the load balancer),
503 for unhealthy.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import func, select, text

from worker.runtime.heartbeat import Heartbeats, last_successes, parse_at
from worker.store.db import Store
from worker.store.models import Delivery

OK, DEGRADED, UNHEALTHY = "ok", "degraded", "unhealthy"
_RANK = {OK: 0, DEGRADED: 1, UNHEALTHY: 2}
SYNC_UNHEALTHY_FACTOR = 4
FORGET_FACTOR = 10
DEAD_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class Thresholds:
    heartbeat_stale_s: float = 120.0
    sync_stale_s: float = 900.0
    evaluate_stale_s: float = 3 * 3600.0
    startup_grace_s: float = 600.0

    @classmethod
    def from_settings(cls, settings: Any) -> Thresholds:
        return cls(heartbeat_stale_s=settings.health_heartbeat_stale_s, sync_stale_s=settings.health_sync_stale_s,
                   evaluate_stale_s=settings.health_evaluate_stale_s,
                   startup_grace_s=settings.health_startup_grace_s)


@dataclass
class Facts:
    """Everything health and metrics look at, read once per request."""

    started_at: datetime
    database: str = OK  # ok | unreachable
    redis: str = "not configured"  # ok | unreachable | not configured
    expect_processes: bool = False  # with Redis, workers and a scheduler must beat
    last: dict[str, datetime | None] = field(default_factory=dict)
    beats: list[dict[str, Any]] = field(default_factory=list)
    rules_problem: str | None = None
    oldest_due: datetime | None = None
    dead_recent: int = 0
    leader: str | None = None


def _check(status: str = OK, reason: str | None = None, **detail: Any) -> dict[str, Any]:
    return {"status": status, **({"reason": reason} if reason else {}), **detail}


def _age(now: datetime, at: datetime | None) -> int | None:
    return None if at is None else round((now - at).total_seconds())


def _sync(facts: Facts, now: datetime, limits: Thresholds) -> dict[str, Any]:
    last = facts.last.get("sync")
    age = _age(now, last)
    if last is None:
        waited = (now - facts.started_at).total_seconds()
        if waited > limits.startup_grace_s:
            return _check(UNHEALTHY, f"never synced with Stripe, {round(waited)} s after start "
                          f"(grace {limits.startup_grace_s:g} s)", age_seconds=None)
        return _check(OK, None, age_seconds=None, pending="waiting for the first sync")
    if age > limits.sync_stale_s * SYNC_UNHEALTHY_FACTOR:
        return _check(UNHEALTHY, f"last successful sync {age} s ago (limit {limits.sync_stale_s:g} s)", age_seconds=age)
    if age > limits.sync_stale_s:
        return _check(DEGRADED, f"last successful sync {age} s ago (limit {limits.sync_stale_s:g} s)", age_seconds=age)
    return _check(OK, age_seconds=age)


def _evaluate(facts: Facts, now: datetime, limits: Thresholds) -> dict[str, Any]:
    age = _age(now, facts.last.get("evaluate"))
    if age is not None and age > limits.evaluate_stale_s:
        return _check(DEGRADED, f"last successful evaluation {age} s ago (limit {limits.evaluate_stale_s:g} s)",
                      age_seconds=age)
    return _check(OK, age_seconds=age)


def _role(facts: Facts, role: str, now: datetime, limits: Thresholds) -> dict[str, Any]:
    forget_s = limits.heartbeat_stale_s * FORGET_FACTOR  # a killed process's beat stops counting
    beats = [b for b in facts.beats if b.get("role") == role
             and (_age(now, parse_at(b.get("at"))) or 0) <= forget_s]
    fresh = [b for b in beats if (_age(now, parse_at(b.get("at"))) or 0) <= limits.heartbeat_stale_s]
    stale = [b["id"] for b in beats if b not in fresh]
    in_grace = (now - facts.started_at).total_seconds() <= limits.startup_grace_s
    detail = {"alive": len(fresh), "stale": stale}
    if not fresh and (facts.expect_processes or beats) and not in_grace:
        why = f"stale heartbeat of {', '.join(stale)}" if stale else f"no {role} heartbeat at all"
        return _check(UNHEALTHY, f"no {role} is alive ({why}; limit {limits.heartbeat_stale_s:g} s)", **detail)
    failing = [b["id"] for b in fresh if (_age(now, parse_at(b.get("failing_since"))) or 0) > limits.heartbeat_stale_s]
    if failing:
        return _check(DEGRADED, f"every message has failed for over {limits.heartbeat_stale_s:g} s on "
                      f"{', '.join(failing)}", **detail)
    if stale:
        return _check(DEGRADED, f"stale heartbeat of {', '.join(stale)} (limit {limits.heartbeat_stale_s:g} s)",
                      **detail)
    return _check(OK, **detail)


def _deliveries(facts: Facts, now: datetime, limits: Thresholds) -> dict[str, Any]:
    age = _age(now, facts.oldest_due)
    detail = {"oldest_due_age_seconds": max(age or 0, 0), "dead_last_24h": facts.dead_recent}
    if age is not None and age > limits.sync_stale_s:
        return _check(DEGRADED, f"a due delivery has waited {age} s (workers not keeping up)", **detail)
    if facts.dead_recent:
        return _check(DEGRADED, f"{facts.dead_recent} deliveries went dead in the last 24 h", **detail)
    return _check(OK, **detail)


def assess(facts: Facts, now: datetime, limits: Thresholds) -> dict[str, Any]:
    """The /healthz body: overall status, the failed checks, their reasons, every check."""
    checks = {
        "database": _check(OK if facts.database == OK else UNHEALTHY,
                           None if facts.database == OK else "database unreachable"),
        "redis": _check(UNHEALTHY if facts.redis == "unreachable" else OK,
                        "Redis unreachable" if facts.redis == "unreachable" else None, state=facts.redis),
    }
    if facts.database == OK:
        checks["sync"] = _sync(facts, now, limits)
        checks["evaluate"] = _evaluate(facts, now, limits)
        checks["deliveries"] = _deliveries(facts, now, limits)
    checks["rules"] = _check(DEGRADED, f"rule files invalid: {facts.rules_problem}") if facts.rules_problem else _check()
    if facts.redis != "unreachable":
        checks["workers"] = _role(facts, "worker", now, limits)
        checks["scheduler"] = _role(facts, "scheduler", now, limits)
    status = max((c["status"] for c in checks.values()), key=_RANK.__getitem__)
    failed = [name for name, c in checks.items() if c["status"] != OK]
    return {"status": status, "failed": failed, "reasons": [checks[n]["reason"] for n in failed],
            "checks": checks, "database": facts.database, "redis": facts.redis,
            "last_sync_age_seconds": _age(now, facts.last.get("sync"))}


# --- reading the facts --------------------------------------------------------------------

def gather(settings: Any, store: Store, redis_client: redis.Redis | None, *, started_at: datetime,
           now: datetime) -> Facts:
    facts = Facts(started_at=started_at, expect_processes=redis_client is not None)
    facts.rules_problem = rules_problem(Path(settings.rules_dir))
    try:
        with store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - a health probe reports, it does not raise
        facts.database = "unreachable"
    if redis_client is not None:
        try:
            redis_client.ping()
            facts.redis = OK
            leader = redis_client.get(f"{settings.redis_namespace}:scheduler-leader")
            facts.leader = leader.decode() if leader else None
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            facts.redis = "unreachable"
    if facts.database == OK:
        facts.last = last_successes(store)
        with store.session() as session:
            facts.oldest_due = session.scalar(select(func.min(Delivery.next_attempt_at))
                                              .where(Delivery.state.in_(("pending", "retrying")),
                                                     Delivery.next_attempt_at <= now))
            facts.dead_recent = session.scalar(select(func.count()).select_from(Delivery)
                                               .where(Delivery.state == "dead",
                                                      Delivery.created_at >= now - DEAD_WINDOW)) or 0
        if facts.oldest_due is not None and facts.oldest_due.tzinfo is None:
            facts.oldest_due = facts.oldest_due.replace(tzinfo=now.tzinfo)
    if facts.redis != "unreachable" and (redis_client is not None or facts.database == OK):
        facts.beats = Heartbeats(redis_client=redis_client, namespace=settings.redis_namespace,
                                 store=store if redis_client is None else None).read(now)
    if facts.leader is None and redis_client is None:
        facts.leader = next((b["id"] for b in facts.beats if b.get("role") == "scheduler" and b.get("leader")), None)
    return facts


_rules_lock = threading.Lock()
_rules_cache: dict[Path, tuple[tuple, str | None]] = {}


def rules_problem(directory: Path) -> str | None:
    """Where the rule files have problems (FILE:LINE, and how many), or None; re-read only when
    a file's name, size or modification time changed."""
    from worker.errors import LifecycleError, RuleFileError  # noqa: PLC0415
    from worker.rules.loader import load_rules, rule_environment  # noqa: PLC0415

    directory = directory.resolve()
    try:
        files = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml"))
        signature = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    except OSError:
        return f"cannot read the rules folder {directory}"
    with _rules_lock:
        cached = _rules_cache.get(directory)
        if cached is not None and cached[0] == signature:
            return cached[1]
        try:
            load_rules(directory, rule_environment())
            problem = None
        except RuleFileError as exc:
            problems = list(exc.problems)
            # Only FILE:LINE: /healthz is public, the rule text is for `check` (and the logs).
            where = [":".join(p.split(":", 2)[:2]) for p in problems] or ["the rule files"]
            problem = f"{', '.join(where[:5])}{' …' if len(where) > 5 else ''} ({len(problems)} problem" \
                      f"{'' if len(problems) == 1 else 's'}; run `stripe-lifecycle check`)"
        except LifecycleError:
            problem = "the rule files cannot be read (run `stripe-lifecycle check`)"
        _rules_cache[directory] = (signature, problem)
        return problem
