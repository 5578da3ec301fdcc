"""Small snapshot builders for the trigger tables (a contact `c1` with subscriptions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from worker.core.money import FxTable
from worker.core.snapshot import ContactSnapshot, SubscriptionSnapshot
from worker.core.triggers import TriggerSettings

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
USD = TriggerSettings(fx=FxTable("usd", {"eur": Decimal("1.10")}))


def sub(id: str = "sub_1", status: str = "active", *, mrr: int = 10000, currency: str = "usd",
        renewal: datetime | None = None, **kw) -> SubscriptionSnapshot:
    if renewal is None and status in ("active", "trialing", "past_due", "unpaid"):
        renewal = NOW + 20 * DAY
    kw.setdefault("current_period_end", renewal)
    return SubscriptionSnapshot(id=id, customer="cus_1", status=status, mrr_minor=mrr,
                                currency=currency, renewal_date=renewal, **kw)


def contact(stage: str | None, *subs: SubscriptionSnapshot, currency: str = "usd",
            mrr: int | None = None, native: dict[str, int] | None = None, **kw) -> ContactSnapshot:
    counted = [s for s in subs if s.status in ("active", "past_due")]
    if native is None:
        native = {}
        for s in counted:
            native[s.currency] = native.get(s.currency, 0) + s.mrr_minor
    renewals = [s.renewal_date for s in subs if s.renewal_date is not None]
    return ContactSnapshot(
        contact_id=kw.pop("contact_id", "c1"), contact_type="account", name="Acme", email=None,
        stripe_customer_ids=("cus_1",), stage=stage,
        mrr_minor=sum(native.values()) if mrr is None else mrr, currency=currency,
        renewal_date=kw.pop("renewal_date", min(renewals) if renewals else None),
        subscriptions=tuple(subs), mrr_native=native, **kw)
