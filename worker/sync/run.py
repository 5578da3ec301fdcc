"""One sync run's shared context and report (wiring).

`SyncRun` carries the store, the Stripe source, the contact settings, `now`, the callbacks and
the report being filled; `apply_*` validate, complete and write one batch of objects in one
transaction, quarantining what cannot be read, and tell `on_changed` which contacts changed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.rules.model import SourceConfig
from worker.store.db import Store
from worker.store.models import DEFAULT_ACCOUNT, StripePrice, StripeSubscription, SyncState
from worker.stripe_api.transport import StripeApi
from worker.sync import limits, mirror, shapes
from worker.sync.accounts import state_key
from worker.sync.mirror import ChangedAt, Quarantined, WriteResult
from worker.sync.source import CouponMemo, StripeSource, full_coupons

Json = dict[str, Any]
OnChanged = Callable[[set[str], datetime | None], None]
Progress = Callable[[str, int, int | None], None]  # (phase, done, total or None)


@dataclass
class SyncReport:
    """What one sync did: `customers`/`subscriptions` read, how many changed, events applied."""

    account: str = DEFAULT_ACCOUNT  # the Stripe account synced
    mode: str = "incremental"  # incremental | full
    reason: str | None = None
    customers: int = 0
    subscriptions: int = 0
    customers_changed: int = 0
    subscriptions_changed: int = 0
    prices: int = 0
    products: int = 0
    deleted: int = 0
    events_seen: int = 0
    events_applied: int = 0
    requests: int = 0
    retries: int = 0
    objects_refetched: int = 0  # changed objects re-read (from events, or a webhook)
    objects_already_read: int = 0  # changed objects not re-read: webhook re-fetches applied all their events
    resumed: bool = False
    quarantined: list[Quarantined] = field(default_factory=list)
    missing_fx_rates: list[str] = field(default_factory=list)  # mirror currencies without a rate
    # Day-one history (worker.sync.history): months rebuilt (0: not this run), invoices read,
    # rebuilt rows written, contacts rebuilt, whether it resumed, contacts it could not rebuild.
    history_months: int = 0
    invoices: int = 0
    history_rows: int = 0
    history_contacts: int = 0
    history_resumed: bool = False
    history_problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "quarantined"}
        data["quarantined"] = [q.__dict__ for q in self.quarantined]
        data["requests_per_change"] = self.requests_per_change
        return data

    @property
    def requests_per_change(self) -> float | None:
        """Stripe requests per changed object re-read (an incremental sync or a re-fetch);
        None when nothing was re-read. A full sync's own paging is not a change."""
        if not self.objects_refetched or self.mode == "full":
            return None
        return round(self.requests / self.objects_refetched, 3)


@dataclass
class SyncRun:
    store: Store
    source: StripeSource
    config: SourceConfig
    now: datetime
    on_changed: OnChanged | None = None
    progress: Progress | None = None
    report: SyncReport = field(default_factory=SyncReport)
    account: str = DEFAULT_ACCOUNT  # whose objects, quarantine and SyncState keys this run writes
    # The backfill writes batches on several threads (worker.sync.writers): counts add up under it.
    counting: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.report.account = self.account

    def key(self, name: str) -> str:
        """This account's SyncState key `name` (worker.sync.accounts.state_key)."""
        return state_key(self.account, name)

    def tick(self, phase: str, done: int, total: int | None = None) -> None:
        if self.progress is not None:
            self.progress(phase, done, total)

    def changed(self, contacts: set[str], at: datetime | None) -> None:
        contacts = {c for c in contacts if c}
        if contacts and self.on_changed is not None:
            self.on_changed(contacts, at)

    def quarantine(self, session: Session, object_type: str, raw: Any, reason: str) -> None:
        item = Quarantined(object_type, limits.quarantine_id(raw), reason)
        mirror.quarantine(session, item, raw, self.now, self.account)
        with self.counting:
            if item not in self.report.quarantined:
                self.report.quarantined.append(item)

    # --- batches -----------------------------------------------------------------------

    def apply_customers(self, session: Session, raws: list[Any], *, stamp: datetime,
                        at: ChangedAt) -> WriteResult:
        good = [self.source.complete_customer(r)
                for r in self._readable(session, "customer", raws, shapes.check_customer, stamp)]
        result = mirror.write_customers(session, good, self.config.contacts, stamp=stamp, changed_at=at,
                                        account=self.account)
        mirror.resolve_quarantine(session, "customer", [r["id"] for r in good], self.now, self.account)
        with self.counting:
            self.report.customers += len(good)
            self.report.customers_changed += result.changed
        return result

    def apply_subscriptions(self, session: Session, raws: list[Any], *, stamp: datetime,
                            at: ChangedAt) -> WriteResult:
        good = []
        for raw in self._readable(session, "subscription", raws, shapes.check_subscription, stamp):
            try:
                good.append(self.source.complete(raw))
            except shapes.Malformed as exc:
                self.quarantine(session, "subscription", raw, str(exc))
                if limits.quarantine_id(raw) == raw.get("id"):
                    mirror.touch(session, "subscription", [raw["id"]], stamp, self.account)
        result = mirror.write_subscriptions(session, good, stamp=stamp, changed_at=at, account=self.account)
        mirror.resolve_quarantine(session, "subscription", [r["id"] for r in good], self.now, self.account)
        with self.counting:
            self.report.subscriptions += len(good)
            self.report.subscriptions_changed += result.changed
        return result

    def apply_prices(self, session: Session, raws: list[Any], *, stamp: datetime) -> None:
        good = self._readable(session, "price", raws, shapes.check_price, stamp)
        self.source.remember_prices(good)
        written = mirror.write_prices(session, good, stamp=stamp, account=self.account)
        with self.counting:
            self.report.prices += written

    def apply_products(self, session: Session, raws: list[Any], *, stamp: datetime) -> None:
        good = self._readable(session, "product", raws, shapes.check_product, stamp)
        written = mirror.write_products(session, good, stamp=stamp, account=self.account)
        with self.counting:
            self.report.products += written

    def _readable(self, session: Session, object_type: str, raws: list[Any],
                  check: Callable[[Any], None], stamp: datetime) -> list[Json]:
        good = []
        for raw in raws:
            try:
                check(raw)
            except shapes.Malformed as exc:
                self.quarantine(session, object_type, raw, str(exc))
                if isinstance(raw, dict) and limits.quarantine_id(raw) == raw.get("id"):
                    mirror.touch(session, object_type, [raw["id"]], stamp, self.account)
                continue
            good.append(raw)
        return good


def stored_price_reader(store: Store, account: str = DEFAULT_ACCOUNT) -> Callable[[str], Json | None]:
    """A lookup of stored full prices (of one account), for completing subscriptions outside a backfill."""

    def read(price_id: str) -> Json | None:
        with store.session() as session:
            return session.scalar(select(StripePrice.raw).where(StripePrice.account == account,
                                                                StripePrice.id == price_id))

    return read


def stored_coupons_reader(store: Store, account: str = DEFAULT_ACCOUNT) -> Callable[[str], dict[str, Json]]:
    """The full coupons in a stored subscription (of one account), by coupon id: a re-fetch of
    a subscription that kept its coupon reads the coupon from there, not from Stripe."""

    def read(subscription_id: str) -> dict[str, Json]:
        with store.session() as session:
            raw = session.scalar(select(StripeSubscription.raw).where(StripeSubscription.account == account,
                                                                      StripeSubscription.id == subscription_id))
        return full_coupons(raw) if isinstance(raw, dict) else {}

    return read


SHAPE_KEY = "api_shape"
COUPONS = CouponMemo()  # the process's recent coupon reads, shared by its runs and re-fetches


class StoredShape:
    """The API-shape probe's answer in SyncState (`api_shape`: {api_base, legacy}); another
    API base (STRIPE_API_BASE changed) is probed again. A full sync probes afresh."""

    def __init__(self, store: Store, now: datetime, *, fresh: bool = False, account: str = DEFAULT_ACCOUNT):
        self.store, self.now, self.fresh = store, now, fresh
        self.key = state_key(account, SHAPE_KEY)

    def read(self, api_base: str) -> bool | None:
        if self.fresh:
            return None
        with self.store.session() as session:
            row = session.get(SyncState, self.key)
            value = row.value if row is not None else {}
        return bool(value["legacy"]) if value.get("api_base") == api_base and "legacy" in value else None

    def write(self, api_base: str, legacy: bool) -> None:
        from worker.sync.state import put_state  # noqa: PLC0415

        with self.store.session() as session:
            put_state(session, self.key, {"api_base": api_base, "legacy": legacy}, self.now)


def make_source(api: StripeApi, store: Store, now: datetime, *, probe_again: bool = False,
                account: str = DEFAULT_ACCOUNT) -> StripeSource:
    """The source for one run of `account`; `probe_again` (a full sync) asks the API shape afresh."""
    memo = StoredShape(store, now, fresh=probe_again, account=account)
    return StripeSource(api, stored_price=stored_price_reader(store, account), shape_memo=memo,
                        coupon_memo=COUPONS, coupon_scope=account,
                        stored_coupons=stored_coupons_reader(store, account))
