"""Accounts for the console and the API: search, filter, sort and page in SQL, then compute
only the page's contacts exactly as `accounts --json` does.

Searching, the stage filter, sorting and totals read the indexed columns evaluation keeps in
`contact_state` (stage, MRR in the reporting currency, renewal date), so no request ever loads
every contact; the objects returned are computed from the mirror for the page's contacts as of
now (`worker.compute.compute_snapshots`), so their MRR is exact and current. A contact that
evaluation has not seen yet has no stored stage: it sorts last and matches no stage filter.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, union, union_all
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from worker.compute import compute_snapshots, mrr_sort
from worker.core.accounts import Explained
from worker.core.money import FxTable
from worker.errors import LifecycleError
from worker.rules.model import RuleSet
from worker.store.models import (
    Contact,
    ContactHistory,
    ContactState,
    Delivery,
    Firing,
    StripeCustomer,
    StripeSubscription,
)

SORTS = ("contact", "mrr", "renewal", "name")
MAX_PER_PAGE = 200
TOTALS_TTL_S = 30.0  # a filter's count and totals are reused this long while paging
SEARCH_CAP = 5000  # a search matching more runs its condition in each query instead of an id list
AT_RISK_STATUSES = ("past_due", "unpaid")
LIVE_STATUSES = ("active", "trialing", "past_due", "unpaid", "incomplete")
#: A cancellation is scheduled; written so PostgreSQL proves the partial index
#: ix_stripe_subscriptions_cancel_scheduled (models.SCHEDULED_CANCEL_SQL) applies.
SCHEDULED = or_(StripeSubscription.cancel_at_period_end == True, StripeSubscription.cancel_at.is_not(None))  # noqa: E712


@dataclass
class AccountQuery:
    q: str | None = None
    stage: str | None = None
    sort: str = "contact"
    descending: bool = False
    page: int = 1
    per_page: int = 50
    at_risk_days: int | None = None  # set: only at-risk contacts (renewing within N days, …)

    def clamp(self) -> AccountQuery:
        self.page = max(1, self.page)
        self.per_page = max(1, min(self.per_page, MAX_PER_PAGE))
        if self.sort not in SORTS:
            self.sort = "contact"
        if self.at_risk_days is not None:
            self.at_risk_days = max(0, min(self.at_risk_days, 3650))
        return self


@dataclass
class AccountPage:
    accounts: list[dict[str, Any]]
    total: int
    mrr_total: dict[str, int]  # currency → minor units, over every matching contact
    problems: list[tuple[str, str]]
    query: AccountQuery
    reporting: tuple[str, int] | None = None  # (currency, the totals converted and rounded), if FX allows
    with_state: int = 0  # how many of the matches have a stored state (they page first by MRR/renewal)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.query.per_page))

    def to_json(self) -> dict[str, Any]:
        return {"accounts": self.accounts, "total": self.total, "page": self.query.page,
                "per_page": self.query.per_page, "pages": self.pages,
                "mrr_total": [{"currency": c, "amount_minor": v} for c, v in sorted(self.mrr_total.items())],
                "mrr_total_reporting": ({"currency": self.reporting[0], "amount_minor": self.reporting[1]}
                                        if self.reporting else None),
                "problems": [{"contact_id": c, "error": e} for c, e in self.problems]}


def _escape(text: str) -> str:
    """`text` as a literal inside a LIKE pattern (escape character: backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like(text: str) -> str:
    return f"%{_escape(text.lower())}%"


def _search(query: AccountQuery) -> list:
    """The `q` condition on the contacts table (id prefix, name/email substring, customer id)."""
    if not query.q:
        return []
    term = query.q.strip()[:200]
    pattern = _like(term)
    return [or_(
        Contact.id == term,
        func.lower(Contact.name).like(pattern, escape="\\"),
        func.lower(Contact.email).like(pattern, escape="\\"),
        Contact.id.like(_escape(term) + "%", escape="\\"),
        Contact.id.in_(select(StripeCustomer.contact_id).where(StripeCustomer.id == term)),
    )]


def _search_ids(query: AccountQuery):  # noqa: ANN202
    """The same matches as `_search`, as a UNION of one select per way to match: each arm uses
    its own index (the primary keys; on PostgreSQL the trigram indexes of migration
    0007_console_speed for the substrings), where one OR across them scans every contact."""
    term = (query.q or "").strip()[:200]
    pattern = _like(term)
    arms = (  # each stops after SEARCH_CAP + 1: a term that matches nearly everyone costs no more
        select(Contact.id).where(Contact.id == term),
        select(Contact.id).where(Contact.id.like(_escape(term) + "%", escape="\\")),
        select(Contact.id).where(func.lower(Contact.name).like(pattern, escape="\\")),
        select(Contact.id).where(func.lower(Contact.email).like(pattern, escape="\\")),
        select(StripeCustomer.contact_id).where(StripeCustomer.id == term, StripeCustomer.contact_id.is_not(None)),
    )
    return union(*(select(arm.limit(SEARCH_CAP + 1).subquery().c[0]) for arm in arms))


def _filters(query: AccountQuery, now: datetime, key) -> list:  # noqa: ANN001 - the contact id column
    """Stage and at-risk conditions, on the stored state (`key`: the contact id column to test)."""
    found = []
    if query.stage:
        found.append(ContactState.stage == query.stage)
    if query.at_risk_days is not None:
        found.append(key.in_(at_risk_ids(now, query.at_risk_days)))
    return found


def _linked(*where) -> Any:  # noqa: ANN401
    return (select(StripeCustomer.contact_id)
            .join(StripeSubscription, (StripeSubscription.customer_id == StripeCustomer.id)
                  & (StripeSubscription.account == StripeCustomer.account))
            .where(StripeSubscription.deleted == False, StripeCustomer.contact_id.is_not(None), *where))  # noqa: E712


def at_risk_ids(now: datetime, days: int):  # noqa: ANN201
    """Contact ids with a cancellation scheduled, a past-due/unpaid subscription, or a renewal
    within `days` days: a UNION of index-friendly selects (an OR across joins scans everything)."""
    return union_all(  # membership only: duplicates cost nothing in the IN, a UNION's sort would
        select(ContactState.contact_id).where(ContactState.renewal_date >= now,
                                              ContactState.renewal_date <= now + timedelta(days=days)),
        _linked(StripeSubscription.status.in_(AT_RISK_STATUSES)),
        _linked(SCHEDULED, StripeSubscription.status.in_(LIVE_STATUSES)),
    )


def _at_risk_row(now: datetime, days: int):  # noqa: ANN202
    """The same membership tested row by row on contact_state: the row's renewal date, else its
    id in the subscriptions' part of the set (hashed once, from index-only scans, and only when a
    row needs it). A page walks the sort's index (which holds renewal_date) and stops after the
    page, instead of building the whole set and sorting it first."""
    subscriptions = union_all(_linked(StripeSubscription.status.in_(AT_RISK_STATUSES)),
                              _linked(SCHEDULED, StripeSubscription.status.in_(LIVE_STATUSES)))
    return or_(and_(ContactState.renewal_date >= now, ContactState.renewal_date <= now + timedelta(days=days)),
               ContactState.contact_id.in_(subscriptions))


def mrr_order(session: Session, fx: FxTable):  # noqa: ANN201
    """What to sort by MRR with: the stored `mrr_sort` column (indexed) when every row holds the
    value for the current rates — a few rows that do not are refreshed here first —, else the
    per-row conversion (correct, slower) while the background refresh after a rate change runs
    (ConsoleContext.rules starts it)."""
    stale = mrr_sort.stale_count(session, fx)
    if stale and stale <= mrr_sort.INLINE_REFRESH_MAX and _refreshed(session, fx):
        stale = 0
    return (ContactState.mrr_sort, True) if not stale else (mrr_sort.expression(fx), False)


def _refreshed(session: Session, fx: FxTable) -> bool:
    """Refresh the few stale rows; False when another refresh (the background one) holds them
    and PostgreSQL gives up on the wait (a deadlock): the page then converts per row this time."""
    if session.get_bind().dialect.name != "postgresql":  # SQLite runs one writer at a time
        mrr_sort.refresh(session, fx)
        return True
    try:
        with session.begin_nested():
            mrr_sort.refresh(session, fx)
    except DBAPIError:
        return False
    return True


def list_accounts(session: Session, rules: RuleSet, query: AccountQuery, *, now: datetime,
                  memo: dict | None = None) -> AccountPage:
    """One page of accounts and the totals over every match (see the module docstring).

    `memo` (a dict the caller keeps) holds each filter's count and totals for TOTALS_TTL_S:
    paging through one filter then costs only its page query."""
    query.clamp()
    key = (query.q, query.stage, query.at_risk_days)
    hit = memo.get(key) if memo is not None else None
    if hit is not None and time.monotonic() - hit[0] < TOTALS_TTL_S:
        return _page(session, rules, query, now=now, known=hit[1])
    page = _page(session, rules, query, now=now, known=None)
    if memo is not None:
        if len(memo) > 256:
            memo.clear()
        memo[key] = (time.monotonic(), (page.total, page.mrr_total, page.reporting, page.with_state))
    return page


def _page(session: Session, rules: RuleSet, query: AccountQuery, *, now: datetime, known) -> AccountPage:  # noqa: ANN001
    search = _search(query)
    if search:  # one indexed lookup per way to match, then the counts, totals and page use the ids
        matching = session.scalars(select(_search_ids(query).subquery().c[0]).limit(SEARCH_CAP + 1)).all()
        if len(matching) <= SEARCH_CAP:
            search = [Contact.id.in_(matching)] if matching else [Contact.id.is_(None)]
    fx = FxTable.from_config(rules.source.mrr)
    if known is not None:
        total, totals, reporting, with_state = known
    else:
        total, totals, reporting, with_state = _totals(session, query, now, search, fx)
    stateless = _stateless(query, now, search)
    offset = (query.page - 1) * query.per_page
    if query.sort in ("mrr", "renewal"):
        ids = _page_by_state(session, query, now, search, fx, offset)
        if len(ids) < query.per_page and not query.stage:  # then the contacts evaluation has not seen
            ids += session.scalars(stateless.order_by(Contact.id).limit(query.per_page - len(ids))
                                   .offset(max(0, offset - with_state))).all()
    else:
        column = Contact.name if query.sort == "name" else Contact.id
        order = column.desc() if query.descending else column.asc()
        base = select(Contact.id).where(*search, *_filters(query, now, Contact.id))
        if query.stage:
            base = base.join(ContactState, ContactState.contact_id == Contact.id)
        ids = list(session.scalars(base.order_by(order.nulls_last(), Contact.id).limit(query.per_page).offset(offset)))
    problems: list[tuple[str, str]] = []
    computed = {e.snapshot.contact_id: e.snapshot for e in compute_snapshots(
        session, rules.source, rules.stages, now=now, contact_ids=ids, problems=problems)} if ids else {}
    return AccountPage([computed[i].to_json() for i in ids if i in computed], total, totals, problems, query, reporting,
                       with_state)


def _totals(session: Session, query: AccountQuery, now: datetime, search: list, fx: FxTable) -> tuple:
    """(matching contacts, MRR per currency, MRR in the reporting currency, how many have state)."""
    if query.at_risk_days is not None:
        sums, total = _at_risk_totals(session, query, now, search)
    else:
        # From contact_state alone (a narrow index covers it) unless the search needs contacts.
        stated = select(ContactState.currency, func.sum(ContactState.mrr_minor), func.count()).where(
            *_filters(query, now, ContactState.contact_id), *search).group_by(ContactState.currency)
        if search:
            stated = stated.join(Contact, Contact.id == ContactState.contact_id)
        sums = [(currency, value, int(count)) for currency, value, count in session.execute(stated).all()]
        total = None
        if not query.stage:  # counted on the contacts' primary key (an index-only scan), stored state or not
            total = session.scalar(select(func.count()).select_from(Contact).where(*search)) or 0
    with_state = sum(count for _, _, count in sums)
    if query.stage:  # a stage is only known from the stored state
        total = with_state
    totals = {c: int(v or 0) for c, v, _ in sums if c}
    try:
        reporting = (fx.currency.lower(), fx.rounded_total(totals))
    except LifecycleError:  # a currency without a rate: the per-currency totals still show
        reporting = None
    return total, totals, reporting, with_state


def _at_risk_totals(session: Session, query: AccountQuery, now: datetime, search: list) -> tuple[list, int]:
    """Sums per currency and counts of the at-risk contacts: the stored state's narrow index
    scanned once, each row tested by `_at_risk_row` (the subscriptions' part hashed once) — a
    join from the deduplicated set instead reads each wide row by key. Contacts without a stored
    state (only before their first evaluation) count too: looked for only when there are any."""
    stated = select(ContactState.currency, func.sum(ContactState.mrr_minor), func.count()).where(
        _at_risk_row(now, query.at_risk_days or 0), *search).group_by(ContactState.currency)
    if query.stage:
        stated = stated.where(ContactState.stage == query.stage)
    if search:
        stated = stated.join(Contact, Contact.id == ContactState.contact_id)
    sums = [(currency, value, int(count)) for currency, value, count in session.execute(stated).all()]
    total = sum(count for _, _, count in sums)
    if not query.stage:
        unevaluated = (session.scalar(select(func.count()).select_from(Contact)) or 0) - (
            session.scalar(select(func.count()).select_from(ContactState)) or 0)
        if unevaluated > 0:
            total += session.scalar(select(func.count()).select_from(_stateless(query, now, search).subquery())) or 0
    return sums, total


def _stateless(query: AccountQuery, now: datetime, search: list):  # noqa: ANN202
    """Contacts with no stored state yet (only before their first evaluation)."""
    risky = [Contact.id.in_(at_risk_ids(now, query.at_risk_days))] if query.at_risk_days is not None else []
    return select(Contact.id).where(~select(ContactState.contact_id).where(
        ContactState.contact_id == Contact.id).exists(), *search, *risky)


def _page_by_state(session: Session, query: AccountQuery, now: datetime, search: list, fx: FxTable,
                   offset: int) -> list[str]:
    nulls = True
    if query.sort == "mrr":
        column, stored = mrr_order(session, fx)
        nulls = not stored  # a fresh mrr_sort is never NULL: the order then matches its indexes
    else:
        column = ContactState.renewal_date
    order = column.desc() if query.descending else column.asc()
    where = [ContactState.stage == query.stage] if query.stage else []
    if query.at_risk_days is not None:
        where.append(_at_risk_row(now, query.at_risk_days))
    base = select(ContactState.contact_id).where(*where, *search)
    if search:
        base = base.join(Contact, Contact.id == ContactState.contact_id)
    return list(session.scalars(base.order_by(order.nulls_last() if nulls else order, ContactState.contact_id)
                                .limit(query.per_page).offset(offset)))


def explain_account(session: Session, rules: RuleSet, contact_id: str, *, now: datetime) -> Explained | None:
    """The contact's snapshot with the `accounts --explain` lines, or None when unknown."""
    problems: list[tuple[str, str]] = []
    found = compute_snapshots(session, rules.source, rules.stages, now=now, contact_ids=[contact_id],
                              explain=True, problems=problems)
    if problems:
        from worker.errors import ConfigError  # noqa: PLC0415

        raise ConfigError(f"Contact {contact_id!r} cannot be computed: {problems[0][1]}")
    return found[0] if found else None


def timeline(session: Session, contact_id: str, *, limit: int = 200) -> list[dict[str, Any]]:
    """Stage/MRR changes, firings (with arm) and deliveries of one contact, newest first."""
    events: list[dict[str, Any]] = []
    for row in session.scalars(select(ContactHistory).where(ContactHistory.contact_id == contact_id)
                               .order_by(ContactHistory.at.desc()).limit(limit)):
        events.append({"at": row.at, "kind": "change", "stage": row.stage, "mrr_minor": row.mrr_minor,
                       "currency": row.currency, "renewal_date": row.renewal_date, "cause": row.cause})
    firing_names: dict[int, str] = {}
    for row in session.scalars(select(Firing).where(Firing.contact_id == contact_id)
                               .order_by(Firing.fired_at.desc()).limit(limit)):
        firing_names[row.id] = row.automation
        events.append({"at": row.fired_at, "kind": "firing", "automation": row.automation, "arm": row.arm,
                       "trigger": row.trigger, "occurrence": row.occurrence, "firing_id": row.id})
    for row in session.scalars(select(Delivery).where(Delivery.contact_id == contact_id)
                               .order_by(Delivery.id.desc()).limit(limit)):
        events.append({"at": row.delivered_at or row.created_at, "kind": "delivery", "id": row.id,
                       "state": row.state, "attempts": row.attempts, "last_error": row.last_error,
                       "handler": row.handler, "target": row.target,
                       "automation": firing_names.get(row.firing_id or 0)})
    events.sort(key=lambda e: e["at"], reverse=True)
    return events[:limit * 2]


def contact_exists(session: Session, contact_id: str) -> bool:
    return session.get(Contact, contact_id) is not None
