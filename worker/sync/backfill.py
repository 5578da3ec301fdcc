"""Full backfill / reconcile: page through every object, resumably (wiring).

Products and prices (with tiers) are fetched at once, then customers and subscriptions
(`status=all`) at once (worker.sync.fetch: one thread per list under the shared rate limiter).
On PostgreSQL the batches are written on LANES writer threads per list kind
(worker.sync.writers), so the database's work overlaps ours; on SQLite by one writer. Every
BATCH_PAGES pages of a list are written in one transaction together with that list's paging
position (`backfill` state: `after` per list, `done` lists), so a killed sync resumes each
list at its next page. On PostgreSQL the tables are ANALYZEd as they grow and after each
group (`Analyzer`). Objects seen by this backfill carry its `stamp` in `synced_at`; once every
page is read, stored customers and subscriptions the listing no longer holds become
tombstones. The events cursor is taken *before* the first page, so changes made during the
backfill are read again by the next incremental sync.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from worker.core.snapshot import iso, parse_iso
from worker.store.analyze import statement as analyze_statement
from worker.store.models import StripeCustomer, StripeSubscription
from worker.stripe_api.transport import StripeApi
from worker.sync import mirror, slices
from worker.sync.fetch import concurrent_pages
from worker.sync.run import SyncRun
from worker.sync.writers import Lanes
from worker.sync.state import (
    BACKFILL,
    CURSOR,
    LAST_FULL,
    drop_state,
    get_state,
    put_state,
)

PHASES = ("products", "prices", "customers", "subscriptions")
#: Lists fetched at once: prices are read before subscriptions, which need their tiers.
GROUPS = (("products", "prices"), ("customers", "subscriptions"))
BATCH_PAGES = 5  # list pages per transaction: fewer commits, little work lost on a kill
LANES = 2  # writer threads per sliced list kind on PostgreSQL (worker.sync.writers)
RETRIES = 3  # a batch that lost a deadlock is written again (its transaction rolled back whole)
TABLES = {"products": ("stripe_products",), "prices": ("stripe_prices",), "customers": ("stripe_customers", "contacts"),
          "subscriptions": ("stripe_subscriptions", "subscription_items")}


def run_backfill(run: SyncRun) -> None:
    """Run (or resume) a full backfill to the end, then tombstone what Stripe no longer has."""
    with run.store.session() as session:
        state = get_state(session, run.key(BACKFILL))
    if state is None:
        state = {"stamp": iso_us(run.now), "done": [], "after": {}, "cursor": _start_cursor(run)}
        with run.store.session() as session:
            put_state(session, run.key(BACKFILL), state, run.now)
    else:
        run.report.resumed = True
        state = _current_form(state)
    stamp = parse_iso(state["stamp"])
    run.source.load_coupons()
    run.source.legacy  # noqa: B018  (probe the API shape once, before the fetching threads)
    analyzer = Analyzer(run)
    for group in GROUPS:
        state = _run_group(run, state, [p for p in group if p not in state["done"]], stamp, analyzer)
        analyzer.phase_done(group)
    _finish(run, state, stamp)


def _current_form(state: dict) -> dict:
    """A resume point written by the one-list-at-a-time backfill: {phase, after}."""
    if isinstance(state.get("after"), dict):
        return state
    phase = state.get("phase") or PHASES[0]
    done = list(PHASES[:PHASES.index(phase)])
    return {**state, "done": done, "after": {phase: state.get("after")} if state.get("after") else {}}


def iso_us(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _start_cursor(run: SyncRun) -> dict:
    """Where incremental sync will start after this backfill: Stripe's newest event now."""
    return {**stripe_cursor(run.source.api), "read_at": int(run.now.timestamp())}


def stripe_cursor(api: StripeApi) -> dict:
    """An events cursor on Stripe's clock, never the worker's: the newest event's `created`
    (that event marked as read), or 0 when the account has no event yet (the next read then
    takes every event Stripe keeps). A worker clock ahead of Stripe's by more than the
    overlap would otherwise skip the events in between."""
    newest = api.get("/v1/events", {"limit": 1}).get("data") or []
    if newest and isinstance(newest[0], dict) and newest[0].get("created") is not None:
        created = int(newest[0]["created"])
        return {"created": created, "seen": {newest[0]["id"]: created}}
    return {"created": 0, "seen": {}}


def _run_group(run: SyncRun, state: dict, phases: list[str], stamp: datetime, analyzer: Analyzer) -> dict:
    """Fetch these lists (large ones cut into `created` slices: worker.sync.slices) at once;
    write each slice's pages BATCH_PAGES at a time, with its position, in one transaction (a
    kill loses at most those pages of each slice). On PostgreSQL each list kind is written on
    a thread of its own (worker.sync.writers), so database and Python work overlap."""
    if not phases:
        return state
    state, parts = slices.plan(run.source, state, phases)
    with run.store.session() as session:
        put_state(session, run.key(BACKFILL), state, run.now)  # the boundaries, before any slice's position
    by_key = {part.key: part for part in parts}
    positions = {part.key: state["after"].get(part.key) for part in parts}
    batches: dict[str, list] = {key: [] for key in positions}
    pages_in: dict[str, int] = {key: 0 for key in positions}
    shared = _Shared(state, {phase: 0 for phase in phases}, analyzer)
    for phase in phases:
        run.tick(phase, 0)

    def pages(key: str, after: str | None):  # noqa: ANN202
        part = by_key[key]
        return run.source.pages(part.kind, starting_after=after, created=part.created)

    lanes = Lanes(parallel=run.store.engine.dialect.name == "postgresql")
    finished = False
    try:
        for key, page in concurrent_pages(pages, positions):
            if page is not None:
                batches[key].extend(page)
                last = page[-1].get("id") if page and isinstance(page[-1], dict) else None
                positions[key] = last or positions[key]
                pages_in[key] += 1
                if pages_in[key] % BATCH_PAGES:
                    continue
            batch, batches[key] = batches[key], []
            lanes.submit(_lane(key), partial(_write_batch, run, shared, key, batch, positions[key], stamp,
                                                      page is None))
        finished = True
    finally:
        lanes.close(wait=finished)
    return shared.state


def _lane(key: str) -> str:
    """The writer lane of a list or slice: LANES per list kind (slices alternate between them)."""
    kind, _, index = key.partition("@")
    return f"{kind}#{int(index) % LANES}" if index.isdigit() else kind


@dataclass
class _Shared:
    """What the writer lanes share: the backfill state as committed so far (advanced under
    `lock`, together with its commit, so a stored position never runs ahead of its pages or
    behind another lane's), rows written per list, and the analyzer."""

    state: dict
    done: dict[str, int]
    analyzer: Analyzer
    lock: threading.Lock = field(default_factory=threading.Lock)


def _write_batch(run: SyncRun, shared: _Shared, key: str, batch: list, after: str | None,
                 stamp: datetime, finished: bool) -> None:
    """Write a few pages and the paging position in one transaction (a kill loses at most these).
    `key` is a list or one slice of it; a list is done once its every slice is."""
    phase = slices.kind_of(key)
    for attempt in range(1, RETRIES + 1):
        try:
            contacts = _commit_batch(run, shared, key, phase, batch, after, stamp, finished)
            break
        except DBAPIError as exc:
            if attempt == RETRIES or not _lost_a_race(exc):
                raise
    run.changed(contacts, None)
    with shared.lock:
        shared.done[phase] += len(batch)
        done = shared.done[phase]
    shared.analyzer.written(phase, len(batch))
    run.tick(phase, done)


def _commit_batch(run: SyncRun, shared: _Shared, key: str, phase: str, batch: list, after: str | None,
                  stamp: datetime, finished: bool) -> set[str]:
    with run.store.sessions() as session:
        contacts = _apply(run, session, phase, batch, stamp) if batch else set()
        with shared.lock:
            state = _advanced(shared.state, key, after, finished)
            put_state(session, run.key(BACKFILL), state, run.now)
            session.commit()
            shared.state = state
    return contacts


def _lost_a_race(exc: DBAPIError) -> bool:
    """A deadlock or serialization failure between two writer lanes: PostgreSQL rolled the
    whole transaction back, so writing the batch again is safe."""
    return getattr(exc.orig, "sqlstate", None) in ("40P01", "40001")


def _advanced(state: dict, key: str, after: str | None, finished: bool) -> dict:
    """`state` with `key` at `after` (and done when `finished`; its list too once every slice is)."""
    phase = slices.kind_of(key)
    finished_now = [key] if finished else []
    if finished and key != phase:
        count = len(state.get("slices", {}).get(phase) or []) + 1
        if all(f"{phase}@{i}" in [*state["done"], key] for i in range(count)):
            finished_now.append(phase)
    return {**state, "after": {**state["after"], key: after}, "done": state["done"] + finished_now}


class Analyzer:
    """PostgreSQL plans a bulk-loaded table from statistics it has never gathered: the item
    delete of each subscription batch became a sequential scan and the backfill quadratic.
    So tables are ANALYZEd as they grow (at 1,000 rows, then whenever a phase has written
    GROWTH times the rows of the last ANALYZE: 1k, 4k, 16k, 64k, 256k — the plans are id
    lookups, right from the first statistics, and each ANALYZE costs CPU the writers want)
    and after each phase. The writer lanes call `written` from several threads."""

    GROWTH = 4

    def __init__(self, run: SyncRun):
        self.run = run
        self.enabled = run.store.engine.dialect.name == "postgresql"
        self.rows: dict[str, int] = {}
        self.next: dict[str, int] = {}
        self._lock = threading.Lock()

    def written(self, phase: str, rows: int) -> None:
        if not self.enabled:
            return
        with self._lock:
            self.rows[phase] = self.rows.get(phase, 0) + rows
            due = self.rows[phase] >= self.next.get(phase, 1000)
            if due:
                self.next[phase] = self.rows[phase] * self.GROWTH
        if due:
            self._analyze(TABLES[phase])

    def phase_done(self, phases: tuple[str, ...]) -> None:
        if self.enabled:
            self._analyze([table for phase in phases for table in TABLES[phase]])

    def _analyze(self, tables) -> None:  # noqa: ANN001
        with self.run.store.session() as session:
            for table in tables:
                session.execute(text(analyze_statement(table)))


def _apply(run: SyncRun, session, phase: str, page: list, stamp: datetime) -> set[str]:
    if phase == "products":
        run.apply_products(session, page, stamp=stamp)
    elif phase == "prices":
        run.apply_prices(session, page, stamp=stamp)
    elif phase == "customers":
        return run.apply_customers(session, page, stamp=stamp, at=None).contacts
    else:
        return run.apply_subscriptions(session, page, stamp=stamp, at=None).contacts
    return set()


def _finish(run: SyncRun, state: dict, stamp: datetime) -> None:
    contacts: set[str] = set()
    with run.store.session() as session:
        if (state.get("slices") or {}).get("customers"):
            slices.name_new_contacts(session, stamp)
        for model, kind in ((StripeSubscription, "subscription"), (StripeCustomer, "customer")):
            gone = session.scalars(select(model.id).where(model.account == run.account, model.deleted.is_(False),
                                                          model.synced_at < stamp))
            for object_id in list(gone):
                changed, affected = mirror.tombstone(session, kind, object_id, run.now, None, run.account)
                contacts |= affected
                run.report.deleted += int(changed)
        put_state(session, run.key(CURSOR), state["cursor"], run.now)
        put_state(session, run.key(LAST_FULL), {"completed_at": iso(run.now)}, run.now)
        drop_state(session, run.key(BACKFILL))
    run.changed(contacts, None)
