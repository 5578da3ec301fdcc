"""Day-one history: read the subscriptions' invoices and rebuild each contact's past (wiring).

Runs after the first full backfill (and on `sync --history`), for `HISTORY_MONTHS` months
back from the first day of the month that many months ago:

1. **invoices** — `GET /v1/invoices?created[gte]=<window start>`, 100 per request through the
   same rate-limited client as the backfill; an invoice with more than 10 lines has the rest
   read from `/v1/invoices/{id}/lines`. Each invoice is read in either API shape
   (`worker.core.invoice_lines`); one that cannot be read is quarantined (`invoice`), the rest
   go on. Five pages per transaction, stored compactly in `stripe_invoices` together with the
   paging position (SyncState `history`), so a killed sync resumes at the next page.
2. **rebuild** — for every contact, `worker.core.reconstruct.contact_timeline` over its
   subscriptions and their invoices; its rebuilt rows replace the previous rebuilt ones
   (`source = 'reconstructed'`) and stop before the contact's first observed row, so what was
   observed always wins. Nothing here fires an automation: triggers read snapshots, not history.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select

from worker.compute import mirror as compute_mirror
from worker.core.invoice_lines import (
    UnreadableInvoice,
    from_compact,
    invoice_facts,
    to_compact,
)
from worker.core.money import FxTable
from worker.core.reconstruct import contact_timeline
from worker.core.snapshot import iso, parse_iso
from worker.core.stages import StageRules
from worker.logs import get_logger
from worker.rules.model import StagesConfig
from worker.store.models import (
    Contact,
    ContactHistory,
    StripeInvoice,
    StripePrice,
    StripeSubscription,
)
from worker.store.locks import database_lock
from worker.sync import bulk, mirror
from worker.sync.run import SyncRun
from worker.sync.state import drop_state, get_state, put_state

log = get_logger(__name__)
HISTORY = "history"          # an unfinished history read: {window_start, months, after, phase}
HISTORY_DONE = "history_done"  # the last completed one: {completed_at, window_start, months}
BATCH_PAGES = 5
Json = dict[str, Any]


def window_start(now: datetime, months: int) -> datetime:
    """The first instant of the month `months` months before `now`'s month (UTC)."""
    index = now.year * 12 + now.month - 1 - months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def stripe_now(session, now: datetime, account: str | None = None) -> datetime:
    """`now`, or Stripe's own latest time when that is later: an account on a test clock (or
    the sandbox's virtual clock) ahead of this machine's is read up to its own present."""
    def latest_of(column):  # noqa: ANN001, ANN202
        query = select(func.max(column))
        return session.scalar(query if account is None else query.where(column.table.c.account == account))

    latest = [latest_of(column) for column in (
        StripeSubscription.created, StripeSubscription.ended_at, StripeSubscription.canceled_at,
        StripeInvoice.created)]
    return max([now, *(t for t in latest if t is not None)])


def history_pending(run: SyncRun) -> bool:
    """An interrupted history read waits to be resumed."""
    with run.store.session() as session:
        return get_state(session, run.key(HISTORY)) is not None


def run_history(run: SyncRun, months: int, stages: StagesConfig) -> None:
    """Read the invoices of the window (or resume), then rebuild every contact's history."""
    with run.store.session() as session:
        state = get_state(session, run.key(HISTORY))
        if state is None:
            state = {"window_start": iso(window_start(stripe_now(session, run.now, run.account), months)),
                     "months": months, "after": None, "phase": "invoices"}
            put_state(session, run.key(HISTORY), state, run.now)
        else:
            run.report.history_resumed = True
    run.report.history_months = int(state["months"])
    start = parse_iso(state["window_start"])
    if state["phase"] == "invoices":
        _read_invoices(run, state, start)
        state = {**state, "phase": "rebuild", "after": None}
        with run.store.session() as session:
            put_state(session, run.key(HISTORY), state, run.now)
    # every contact is rebuilt from every account's invoices: one rebuild at a time (accounts
    # sync in parallel, and two rebuilds would each delete and re-insert the rebuilt rows)
    with database_lock(run.store.engine, "history-rebuild"), run.store.session() as session:
        _rebuild(run, session, start, stages)
        drop_state(session, run.key(HISTORY))
        put_state(session, run.key(HISTORY_DONE), {"completed_at": iso(run.now), "window_start": iso(start),
                                          "months": int(state["months"])}, run.now)


def _read_invoices(run: SyncRun, state: Json, start: datetime) -> None:
    after, done, batch = state.get("after"), 0, []
    prices: dict[str, Json | None] = {}

    def price_of(price_id: str) -> Json | None:
        if price_id not in prices:
            prices[price_id] = run.source.price(price_id)
        return prices[price_id]

    run.tick("invoices", done)
    params: Json = {"created": {"gte": int(start.timestamp())}}
    if run.source.legacy:  # localstripe's 2017-era list has no `created` filter: filtered here
        params = {}
    else:  # the coupons' durations decide which discounts count (docs/mrr.md)
        params["expand"] = ["data.lines.data.discounts"]
    for pages, page in enumerate(run.source.api.pages("/v1/invoices", params, starting_after=after), 1):
        data = page["data"]
        batch.extend(data)
        last = data[-1].get("id") if data and isinstance(data[-1], dict) else None
        after = last or after
        if pages % BATCH_PAGES == 0:
            done += _write_batch(run, state, batch, after, price_of)
            run.tick("invoices", done)
            batch = []
    if batch:
        done += _write_batch(run, state, batch, after, price_of)
        run.tick("invoices", done)


def _complete_lines(run: SyncRun, raw: Any) -> Any:
    """The invoice with every line (Stripe lists the first 10 inline)."""
    lines = raw.get("lines") if isinstance(raw, dict) else None
    if not (isinstance(lines, dict) and lines.get("has_more") and isinstance(lines.get("data"), list)):
        return raw
    data = list(lines["data"])
    last = data[-1].get("id") if data and isinstance(data[-1], dict) else None
    params = {} if run.source.legacy else {"expand": ["data.discounts"]}
    for page in run.source.api.pages(f"/v1/invoices/{raw['id']}/lines", params, starting_after=last):
        data.extend(page["data"])
    return {**raw, "lines": {**lines, "data": data, "has_more": False}}


def _write_batch(run: SyncRun, state: Json, raws: list[Any], after: str | None, price_of) -> int:
    rows, good = [], []
    with run.store.session() as session:
        for raw in raws:
            try:
                facts = invoice_facts(_complete_lines(run, raw), price_of, run.source.coupon)
            except UnreadableInvoice as exc:
                run.quarantine(session, "invoice", raw, str(exc))
                continue
            good.append(facts.id)
            if (facts.subscription_id is None and not facts.lines) or facts.created < parse_iso(state["window_start"]):
                continue  # a one-off invoice (no subscription revenue), or older than the window
            rows.append({"account": run.account, "id": facts.id, "subscription_id": facts.subscription_id,
                         "customer_id": _customer(raw), "created": facts.created, "status": facts.status,
                         "raw": to_compact(facts), "synced_at": run.now})
        bulk.upsert(session, StripeInvoice.__table__, rows)
        mirror.resolve_quarantine(session, "invoice", good, run.now, run.account)
        put_state(session, run.key(HISTORY), {**state, "after": after}, run.now)
    run.report.invoices += len(raws)
    return len(raws)


def _customer(raw: Json) -> str | None:
    customer = raw.get("customer")
    return customer.get("id") if isinstance(customer, dict) else customer


def _rebuild(run: SyncRun, session, start: datetime, stages: StagesConfig) -> None:
    """Replace every contact's rebuilt rows with a fresh rebuild (module docstring, step 2),
    a chunk of contacts at a time by keyset on the id (only their ids, first observed times and
    subscriptions' invoices are held in memory)."""
    prices = {(account, pid): bulk.loads(raw) for account, pid, raw in session.execute(
        select(StripePrice.account, StripePrice.id, StripePrice.raw))}
    until_now = stripe_now(session, run.now)
    session.execute(delete(ContactHistory).where(ContactHistory.source == "reconstructed"))
    rules, fx = StageRules.compile(stages), FxTable.from_config(run.config.mrr)
    total = session.scalar(select(func.count()).select_from(Contact)) or 0
    written = contacts = invoices = 0
    for done, chunk in enumerate(compute_mirror.contact_chunks(session, compute_mirror.CHUNK), 1):
        first_observed = dict(session.execute(  # this chunk's only: nothing here holds every contact
            select(ContactHistory.contact_id, func.min(ContactHistory.at))
            .where(ContactHistory.source == "observed", ContactHistory.contact_id.in_(chunk))
            .group_by(ContactHistory.contact_id)).all())
        grouped = compute_mirror.group_by_contact(compute_mirror.load_customers(session, contact_ids=chunk))
        subs_of = {cid: [s for d in data for s in d.subscriptions] for cid, data in grouped.items()}
        owned = [(d.customer["account"], s["id"]) for data in grouped.values() for d in data for s in d.subscriptions]
        by_sub = _invoices_of(run, session, owned, prices)
        invoices += sum(len(v) for v in by_sub.values())
        contacts += len(grouped)
        for contact_id, subs in subs_of.items():
            written += _rebuild_contact(run, session, contact_id, subs, by_sub, start, until_now,
                                        first_observed.get(contact_id), rules, fx)
        run.tick("history", min(done * compute_mirror.CHUNK, total), total)
    run.report.history_rows = written
    run.report.history_contacts = contacts
    log.info("history_rebuilt", rows=written, contacts=contacts, window_start=iso(start), invoices=invoices)


def _invoices_of(run: SyncRun, session, owned: list[tuple[str, str]], prices: dict) -> dict[str, list]:
    """The stored invoices of these (account, subscription id) pairs, read back into facts (with
    their own account's prices), by subscription id."""
    by_sub: dict[str, list] = defaultdict(list)
    accounts: dict[str, list[str]] = defaultdict(list)
    for account, sub_id in owned:
        accounts[account].append(sub_id)
    for account, sub_ids in sorted(accounts.items()):
        _read_facts(run, session, account, sub_ids, prices, by_sub)
    return by_sub


def _read_facts(run: SyncRun, session, account: str, sub_ids: list[str], prices: dict,
                by_sub: dict[str, list]) -> None:
    def price_of(price_id: str) -> Json | None:
        return prices.get((account, price_id))

    for part in compute_mirror.chunks(sub_ids):
        for (raw,) in session.execute(select(StripeInvoice.raw).where(
                StripeInvoice.account == account, StripeInvoice.subscription_id.in_(part))):
            data = bulk.loads(raw)
            try:
                facts = from_compact(data, price_of)
            except UnreadableInvoice as exc:
                run.quarantine(session, "invoice", data, str(exc))
                continue
            for sub_id in {line.subscription_id for line in facts.lines}:
                by_sub[sub_id].append(facts)


def _rebuild_contact(run: SyncRun, session, contact_id: str, subs: list, by_sub: dict, start: datetime,
                     until_now: datetime, first_observed: datetime | None, rules: StageRules, fx: FxTable) -> int:
    """Write one contact's rebuilt rows (before its first observed row); how many."""
    until = first_observed or until_now + timedelta(microseconds=1)
    try:
        points = contact_timeline(subs, by_sub, window_start=start, now=until_now, preset=run.config.mrr.preset,
                                  stages=rules, fx=fx)
    except Exception as exc:  # noqa: BLE001 - one contact's bad data must not stop the rest
        log.error("history_not_rebuilt", contact_id=contact_id, error=f"{type(exc).__name__}: {exc}")
        run.report.history_problems.append(f"{contact_id}: {exc}")
        return 0
    written = 0
    for point in (p for p in points if p.at < until):
        session.add(ContactHistory(
            contact_id=contact_id, at=point.at, observed_at=run.now, stage=point.stage,
            mrr_minor=point.mrr_minor, currency=point.currency, mrr_native=dict(point.mrr_native),
            renewal_date=None, cause=point.cause, source="reconstructed"))
        written += 1
    return written
