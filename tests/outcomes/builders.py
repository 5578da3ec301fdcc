"""Constructed history for outcome tests: contacts, history rows and firings written straight to the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import event

from worker.automations.firing import goal_window_end
from worker.core.snapshot import iso
from worker.rules.model import MrrConfig, RuleSet, SourceConfig, StageDef, StagesConfig
from worker.store.models import (
    Contact,
    ContactHistory,
    Delivery,
    Firing,
    SubscriptionHistory,
)

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
USD = "usd"

RULES = RuleSet(
    source=SourceConfig(mrr=MrrConfig(currency="usd", fx_rates={"eur": Decimal("1.08")})),
    stages=StagesConfig(
        stages={"trial": StageDef(status=["trialing"]),
                "customer": StageDef(status=["active", "past_due", "unpaid"]),
                "churn": StageDef(status=["canceled"])},
        precedence=["customer", "trial", "churn"]),
)

GOALS = {
    "renewal": {"kind": "renewal", "grace_s": 3 * 86400, "within_s": 90 * 86400, "to": None},
    "retention": {"kind": "retention", "grace_s": 3 * 86400, "within_s": 90 * 86400, "to": None},
    "expansion": {"kind": "expansion", "grace_s": 3 * 86400, "within_s": 90 * 86400, "to": None},
    "conversion": {"kind": "conversion", "grace_s": 3 * 86400, "within_s": 30 * 86400, "to": "customer"},
}


class History:
    """Collects rows for one session: `contact`, `stage_at`, `sub_at`, `fire`.

    Like `record_firing`, each firing gets its goal's `window_end`; it is filled in when the
    session commits, once the test has written the history the firing's window depends on."""

    def __init__(self, session):
        self.session = session
        self.firings: list[Firing] = []
        event.listen(session, "before_commit", self._window_ends)

    def _window_ends(self, session) -> None:
        for firing in self.firings:
            if firing.window_end is None:
                firing.window_end = goal_window_end(session, {
                    name: getattr(firing, name)
                    for name in ("goal", "fired_at", "snapshot", "subscription_id", "renewal_date")})

    def contact(self, contact_id: str, name: str = "Acme") -> None:
        self.session.add(Contact(id=contact_id, type="account", name=name, email=None, source="stripe",
                                 created_at=T0 - 400 * DAY, updated_at=T0))

    def stage_at(self, contact_id: str, at: datetime, stage: str | None, mrr: int = 0, currency: str = USD,
                 *, native: dict[str, int] | None = None, renewal: datetime | None = None,
                 observed: datetime | None = None) -> None:
        native = {currency: mrr} if native is None and mrr else (native or {})
        self.session.add(ContactHistory(
            contact_id=contact_id, at=at, observed_at=observed or at, stage=stage, mrr_minor=mrr,
            currency=currency, mrr_native=native, renewal_date=renewal, cause="test"))

    def sub_at(self, subscription_id: str, contact_id: str, at: datetime, status: str,
               period_end: datetime | None, mrr: int = 10000, *, renewal: datetime | None | str = "same",
               cancel_at_period_end: bool = False) -> None:
        self.session.add(SubscriptionHistory(
            subscription_id=subscription_id, contact_id=contact_id, at=at, observed_at=at, status=status,
            current_period_end=period_end, renewal_date=period_end if renewal == "same" else renewal,
            cancel_at_period_end=cancel_at_period_end, cancel_at=None, mrr_minor=mrr, currency=USD))

    def fire(self, automation: str, contact_id: str, *, goal: str | None, at: datetime = T0, arm: str = "treated",
             stage: str | None = "customer", mrr: int = 10000, currency: str = USD,
             renewal: datetime | None = None, subscription_id: str | None = None,
             subscriptions: list[dict[str, Any]] | None = None, deliveries: tuple[str, ...] = ()) -> Firing:
        firing = Firing(
            automation=automation, contact_id=contact_id, occurrence=f"{automation}:{contact_id}:{iso(at)}",
            trigger="renewal_due", subscription_id=subscription_id, arm=arm, fired_at=at, stage=stage,
            mrr_minor=mrr, currency=currency, renewal_date=renewal,
            snapshot={"contact": {"contact_id": contact_id, "subscriptions": subscriptions or []},
                      "subscription": None, "occurrence": {}},
            goal=GOALS[goal] if goal else None)
        self.session.add(firing)
        self.session.flush()
        self.firings.append(firing)
        for index, state in enumerate(deliveries):
            self.session.add(Delivery(
                firing_id=firing.id, contact_id=contact_id, kind="action", handler="log",
                target=f"{automation}#{index}", idempotency_key=f"k-{firing.id}-{index}", payload={},
                state=state, attempts=1, next_attempt_at=at, created_at=at))
        return firing


def sub_json(subscription_id: str, renewal: datetime | None) -> dict[str, Any]:
    return {"id": subscription_id, "status": "active", "renewal_date": iso(renewal)}


def state(session, contact_id: str, stage: str | None, mrr: int, *, currency: str = USD,
          native: dict[str, int] | None = None, renewal: datetime | None = None, at: datetime = T0) -> None:
    """The contact's latest computed state (what `evaluate` stores)."""
    from worker.store.models import ContactState

    native = {currency: mrr} if native is None and mrr else (native or {})
    session.add(ContactState(contact_id=contact_id, stage=stage, mrr_minor=mrr, currency=currency,
                             renewal_date=renewal, computed_at=at,
                             snapshot={"contact_id": contact_id, "name": contact_id, "mrr_native": native}))
