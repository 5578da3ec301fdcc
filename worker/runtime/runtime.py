"""The `Runtime`: what one process works with, built once at its entry point (wiring).

    runtime = Runtime(settings, queue=InlineQueue())          # CLI, demo, tests, embedded web
    runtime = Runtime(settings, queue=DramatiqQueue(actors))  # worker processes, `run`, scheduler
    store, rules = runtime.store(), runtime.rules(now)

It holds the settings, the clock (the wall clock, or the sandbox's virtual one in the demo), the
store (one engine and pool per process, migrated once), the delivery bookkeeping store, the
live rules (one loader, one environment source: process environment over `.env`), the live
matcher per engine kind, the rate-limited Stripe client and the `Queue` port. The use-cases
(`worker.sync.service`, `worker.automations.service`, `worker.delivery.service`) take it and
enqueue through `runtime.queue`; nothing else in the process opens stores or reads rules.
Everything is created on first use, under a lock, so building a Runtime does no I/O.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from worker.engine import Kind, LiveMatcher, matcher_factory
from worker.errors import LifecycleError
from worker.logs import get_logger
from worker.rules.live import LiveRules
from worker.rules.model import RuleSet
from worker.runtime.queue import InlineQueue, Queue
from worker.settings import Settings
from worker.store.db import Store, open_store
from worker.stripe_api.ratelimit import shared_limiter
from worker.store.models import DEFAULT_ACCOUNT
from worker.stripe_api.transport import StripeApi
from worker.sync.accounts import StripeAccount, find_account, stripe_accounts

log = get_logger("runtime")


def utc_now() -> datetime:
    """The wall clock, read only by process entry points (through `Runtime.clock`)."""
    return datetime.now(UTC)


class Runtime:
    """One per process; see the module docstring."""

    def __init__(self, settings: Settings, *, queue: Queue | None = None,
                 clock: Callable[[], datetime] = utc_now, store: Store | None = None,
                 stripe: StripeApi | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.live_rules = LiveRules(settings.rules_dir)
        self._lock = threading.RLock()
        self._store = store
        self._owned: list[Store] = []
        self._delivery_store: Store | None = None
        self._stripe = stripe  # a client passed in serves the `default` account (tests)
        self._clients: dict[tuple[str, str, str], StripeApi] = {}
        self._matchers: dict[str, tuple[RuleSet, LiveMatcher]] = {}
        self.queue: Queue = queue if queue is not None else InlineQueue()
        self.queue.bind(self)

    def store(self) -> Store:
        """The process's store for DATABASE_URL (migrated once, then reused); every commit durable."""
        with self._lock:
            if self._store is None:
                self._store = open_store(self.settings.database_url.get_secret_value())
                self._owned.append(self._store)
            return self._store

    def delivery_store(self) -> Store:
        """The store the deliveries use: on PostgreSQL, an engine of its own tuned for the
        delivery bookkeeping (and used for nothing else).

        - A pool as large as a worker's thread count, so no connection is opened per message.
        - No ping before each checkout (a round trip per message): a connection found broken
          (database restarted) invalidates the pool and the delivery tries once more.
        - `synchronous_commit = off` on these connections only: a claim or a result does not wait
          for its WAL flush (about 8 ms per commit, measured here). After a database crash the
          last fraction of a second of this bookkeeping may be lost: a delivery marked delivered
          becomes pending again and is re-sent with the same idempotency key, so at-least-once
          holds. Firings and delivery rows are written by `evaluate` through `store()`, durably.
        """
        base = self.store()
        if base.engine.dialect.name != "postgresql":
            return base
        with self._lock:
            if self._delivery_store is None:
                engine = create_engine(base.engine.url, pool_size=16, max_overflow=16, pool_pre_ping=False,
                                       connect_args={"connect_timeout": 5,
                                                     "options": "-c synchronous_commit=off"})
                self._delivery_store = Store(engine=engine, sessions=sessionmaker(engine, expire_on_commit=False))
                self._owned.append(self._delivery_store)
            return self._delivery_store

    def rules(self, now: datetime | None = None) -> RuleSet:
        """The current rules (`worker.rules.live.LiveRules`: reloaded on change, last good kept)."""
        return self.live_rules.current(now)

    def matcher(self, rules: RuleSet, engine: Kind = "durable") -> LiveMatcher:
        """The process's matcher of `engine` kind, reloaded when `rules` is a new RuleSet."""
        with self._lock:
            known = self._matchers.get(engine)
            if known is None:
                live = LiveMatcher(matcher_factory(engine), rules.automations)
            elif known[0] is not rules:
                live = known[1]
                live.reload(rules.automations)
                log.info("rules_reloaded", generation=live.generation, automations=len(rules.automations))
            else:
                return known[1]
            self._matchers[engine] = (rules, live)
            return live

    def accounts(self, now: datetime | None = None) -> list[StripeAccount]:
        """The Stripe accounts: rules/stripe.yaml `accounts:`, else `default` from STRIPE_API_KEY."""
        return stripe_accounts(self.settings, self.rules(now) if self._has_account_rules(now) else None)

    def _has_account_rules(self, now: datetime | None) -> bool:
        """Rules that cannot load leave the single `default` account of the settings (the
        commands that need the rules say what is wrong with them)."""
        try:
            return bool(self.rules(now).accounts)
        except LifecycleError:
            return False

    def stripe(self, account: str = DEFAULT_ACCOUNT) -> StripeApi:
        """The rate-limited client of one Stripe account (its key and API base; STRIPE_MAX_RPS /
        STRIPE_ENDPOINT_RPS per account, shared through Redis when REDIS_URL is set)."""
        if account == DEFAULT_ACCOUNT and self._stripe is not None:
            return self._stripe
        found = find_account(self.accounts(), account)
        key = found.api_key()  # a missing key is the first thing said
        with self._lock:
            ident = (found.name, found.api_base, hashlib.sha256(key.encode()).hexdigest())
            if ident not in self._clients:
                settings = self.settings
                redis_url = settings.redis_url.get_secret_value() if settings.redis_url else None
                limiter = shared_limiter(settings.stripe_max_rps, settings.stripe_endpoint_rps, redis_url=redis_url,
                                         namespace=settings.redis_namespace, account=found.name)
                self._clients[ident] = StripeApi.connect(key, found.api_base, limiter=limiter)
            return self._clients[ident]

    def close(self) -> None:
        """Dispose of the engines this runtime opened (a store passed in stays open)."""
        with self._lock:
            for store in self._owned:
                store.engine.dispose()
            self._owned.clear()
            for _, live in self._matchers.values():
                live.close()
            self._matchers.clear()
