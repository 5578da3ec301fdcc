"""Day-one history against localstripe (a 2017-era API): its invoices, in the older shape
(`subscription` on the invoice and lines, `plan` on the line), rebuild each contact's MRR."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from tests.sync.conftest import LOCALSTRIPE_KEY, localstripe  # noqa: F401 - the fixture
from tests.sync.test_localstripe import _seed
from worker.rules.model import ContactsConfig, SourceConfig, StageDef, StagesConfig
from worker.store.models import ContactHistory
from worker.stripe_api.transport import StripeApi
from worker.sync import run_sync

STAGES = StagesConfig(stages={"customer": StageDef(status=["active"]), "churn": StageDef(status=["canceled"])},
                      precedence=["customer", "churn"])


def test_localstripe_invoices_rebuild_the_contacts_mrr(localstripe, sqlite_store):  # noqa: F811
    _seed(localstripe)
    api = StripeApi.connect(LOCALSTRIPE_KEY, localstripe, max_rps=100)
    report = run_sync(sqlite_store, api, SourceConfig(contacts=ContactsConfig()), full=True,
                      now=datetime.now(UTC), history_months=3, stages=STAGES)
    assert report.quarantined == [] and report.invoices >= 3 and report.history_problems == []
    with sqlite_store.session() as session:
        rows = {r.contact_id: r for r in session.scalars(select(ContactHistory))}
    # acme: 3 × 15.00 monthly + 1,200.00 yearly (100.00 a month), both rebuilt from invoice lines
    assert rows["acme"].mrr_native == {"usd": 4500 + 10000} and rows["acme"].source == "reconstructed"
    assert rows["acme"].stage == "customer"
