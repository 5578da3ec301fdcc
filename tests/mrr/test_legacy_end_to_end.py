"""Legacy shape end to end: localstripe (2017-era API: `plan`, `quantity`, periods on the
subscription) synced by the real sync, then the snapshots. Expected numbers are worked out here
from the plans the test creates. (localstripe cannot put a coupon on a subscription; the legacy
singular `discount` is covered by the rule tables.)"""

from __future__ import annotations

from datetime import datetime, timezone

import httpx

from tests.mrr.test_renewal_and_stages import SEED
from tests.sync.conftest import LOCALSTRIPE_KEY, localstripe  # noqa: F401  (the fixture)
from worker.compute import compute_snapshots
from worker.rules.model import SourceConfig
from worker.stripe_api.transport import StripeApi
from worker.sync import run_sync

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


def _post(base: str, path: str, data: dict) -> dict:
    response = httpx.post(f"{base}{path}", data=data, auth=(LOCALSTRIPE_KEY, ""), timeout=10)
    response.raise_for_status()
    return response.json()


def test_legacy_subscriptions_give_the_right_mrr_and_renewal(localstripe, sqlite_store):  # noqa: F811
    product = _post(localstripe, "/v1/products", {"name": "Pro", "type": "service"})
    _post(localstripe, "/v1/plans", {"id": "pro-monthly", "amount": 1500, "currency": "usd", "interval": "month",
                                     "product": product["id"]})
    _post(localstripe, "/v1/plans", {"id": "team-yearly", "amount": 120000, "currency": "usd", "interval": "year",
                                     "product": product["id"]})
    for name, plan, qty in (("Acme", "pro-monthly", 3), ("Acme EU", "team-yearly", 2)):
        customer = _post(localstripe, "/v1/customers", {
            "name": name, "metadata[account_id]": "acme", "payment_method": "pm_card_visa",
            "invoice_settings[default_payment_method]": "pm_card_visa"})
        _post(localstripe, "/v1/subscriptions", {"customer": customer["id"], "items[0][plan]": plan,
                                                  "items[0][quantity]": str(qty)})
    api = StripeApi.connect(LOCALSTRIPE_KEY, localstripe, max_rps=100)
    assert run_sync(sqlite_store, api, SourceConfig(), full=True, now=NOW).quarantined == []
    with sqlite_store.session() as session:
        [acme] = [e.snapshot for e in compute_snapshots(session, SourceConfig(), SEED, now=NOW)]
    # 3 x 15.00 a month = 45.00; 2 x 1,200.00 a year = 200.00 a month → 245.00
    assert (acme.contact_id, acme.stage, acme.mrr_minor, acme.currency) == ("acme", "customer", 24500, "usd")
    assert sorted(s.mrr_minor for s in acme.subscriptions) == [4500, 20000]
    assert all(s.renewal_date is not None and s.renewal_date == s.current_period_end for s in acme.subscriptions)
    assert acme.renewal_date == min(s.current_period_end for s in acme.subscriptions)
