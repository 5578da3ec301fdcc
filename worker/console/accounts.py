"""Accounts for the console and the API: search, filter, sort and page in SQL, then compute
only the page's contacts exactly as `accounts --json` does.

Searching, the stage filter, sorting and totals read the indexed columns evaluation keeps in
`contact_state` (stage, MRR in the reporting currency, renewal date), so no request ever loads
every contact; the objects returned are computed from the mirror for the page's contacts as of
now (`worker.compute.compute_snapshots`), so their MRR is exact and current. A contact that
evaluation has not seen yet has no stored stage: it sorts last and matches no stage filter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from decimal import Decimal

from sqlalchemy import Numeric, and_, case, func, literal, or_, select
from sqlalchemy.orm import Session

from worker.compute import compute_snapshots
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
AT_RISK_STATUSES = ("past_due", "unpaid")
LIVE_STATUSES = ("active", "trialing", "past_due", "unpaid", "incomplete")


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


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _conditions(query: AccountQuery, now: datetime) -> list:
    found = []
    if query.q:
        text = query.q.strip()[:200]
        pattern = _like(text)
        found.append(or_(
            Contact.id == text,
            func.lower(Contact.name).like(pattern, escape="\\"),
            func.lower(Contact.email).like(pattern, escape="\\"),
            Contact.id.like(text.replace("%", "").replace("_", "\\_") + "%", escape="\\"),
            Contact.id.in_(select(StripeCustomer.contact_id).where(StripeCustomer.id == text)),
        ))
    if query.stage:
        found.append(ContactState.stage == query.stage)
    if query.at_risk_days is not None:
        found.append(at_risk_condition(now, query.at_risk_days))
    return found


def at_risk_condition(now: datetime, days: int):  # noqa: ANN201
    """Cancellation scheduled, past due/unpaid, or renewing within `days` days."""
    risky_subs = select(StripeCustomer.contact_id).join(
        StripeSubscription, StripeSubscription.customer_id == StripeCustomer.id).where(
        StripeSubscription.deleted.is_(False),
        or_(StripeSubscription.status.in_(AT_RISK_STATUSES),
            and_(StripeSubscription.status.in_(LIVE_STATUSES),
                 or_(StripeSubscription.cancel_at_period_end.is_(True), StripeSubscription.cancel_at.is_not(None)))))
    renewing = and_(ContactState.renewal_date >= now, ContactState.renewal_date <= now + timedelta(days=days))
    return or_(renewing, Contact.id.in_(risky_subs))


def reporting_mrr(fx: FxTable, currencies: list[str]):  # noqa: ANN201
    """MRR in the reporting currency's minor unit, as SQL (exact Numeric factors from the FX
    table), so contacts in different currencies sort by what they are worth. For ordering only."""
    whens = []
    for code in currencies:
        try:
            factor = fx.convert_minor(1, code)
        except LifecycleError:
            continue
        exact = Decimal(factor.numerator) / Decimal(factor.denominator)
        whens.append((ContactState.currency == code, ContactState.mrr_minor * literal(exact, Numeric(30, 12))))
    return case(*whens, else_=ContactState.mrr_minor) if whens else ContactState.mrr_minor


def _order(query: AccountQuery, mrr_column) -> list:  # noqa: ANN001
    column = {"mrr": mrr_column, "renewal": ContactState.renewal_date,
              "name": Contact.name, "contact": Contact.id}[query.sort]
    ordered = column.desc() if query.descending else column.asc()
    return [ordered.nulls_last(), Contact.id.asc()]


def list_accounts(session: Session, rules: RuleSet, query: AccountQuery, *, now: datetime) -> AccountPage:
    query.clamp()
    conditions = _conditions(query, now)
    base = select(Contact.id).outerjoin(ContactState, ContactState.contact_id == Contact.id).where(*conditions)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    sums = session.execute(
        select(ContactState.currency, func.sum(ContactState.mrr_minor))
        .select_from(Contact).join(ContactState, ContactState.contact_id == Contact.id)
        .where(*conditions).group_by(ContactState.currency)).all()
    fx = FxTable.from_config(rules.source.mrr)
    known = sorted({fx.currency.lower(), *(k.lower() for k in rules.source.mrr.fx_rates)})
    ids = list(session.scalars(base.order_by(*_order(query, reporting_mrr(fx, known)))
                               .limit(query.per_page).offset((query.page - 1) * query.per_page)))
    problems: list[tuple[str, str]] = []
    computed = {e.snapshot.contact_id: e.snapshot for e in compute_snapshots(
        session, rules.source, rules.stages, now=now, contact_ids=ids, problems=problems)} if ids else {}
    accounts = [computed[i].to_json() for i in ids if i in computed]
    totals = {c: int(v or 0) for c, v in sums if c}
    try:
        reporting = (fx.currency.lower(), fx.rounded_total(totals))
    except LifecycleError:  # a currency without a rate: the per-currency totals still show
        reporting = None
    return AccountPage(accounts, total, totals, problems, query, reporting)


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
