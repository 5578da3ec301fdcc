"""Item 4 of issue 15: Stripe objects are validated at the boundary, on real PostgreSQL. What
Stripe allows is stored whole (a 400-character metadata id is a 400-character contact id);
what it would never send — NUL bytes, over-long names or metadata, `unit_amount_decimal:
"abc"`, `email: 42`, an over-long id — is quarantined and the rest of the sync goes on."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from stripe_sandbox import Sandbox
from worker.rules.model import ContactsConfig, SourceConfig
from worker.store.db import open_store
from worker.store.models import Contact, Quarantine, StripeCustomer, StripeSubscription
from worker.stripe_api.transport import StripeApi
from worker.sync import shapes
from worker.sync.runner import run_sync

START = datetime(2026, 11, 1, tzinfo=UTC)
CONFIG = SourceConfig(contacts=ContactsConfig(create_missing=True))
LONG_ID = "acct-" + "9" * 395  # 400 characters: Stripe allows metadata values up to 500


@pytest.fixture
def pg_store(postgres_url):
    store = open_store(postgres_url)
    yield store
    store.engine.dispose()


def _account() -> tuple[Sandbox, dict[str, str]]:
    sb = Sandbox(api_key="sk_test_boundary", start=START)
    product = sb.create_product("Pro")
    price = sb.create_price(product["id"], "usd", unit_amount=1000)
    bad_price = sb.create_price(product["id"], "usd", unit_amount=2000)
    ids = {}
    for name in ("fine", "long", "nul", "longname", "longvalue", "email42", "badprice", "longid"):
        customer = sb.create_customer(metadata={"account_id": LONG_ID if name == "long" else name})
        ids[name] = customer["id"]
        chosen = bad_price if name == "badprice" else price
        ids[f"sub_{name}"] = sb.create_subscription(customer["id"], [{"price": chosen["id"], "quantity": 1}])["id"]
    sb.inject_malformed(ids["nul"], metadata={"account_id": "nul", "note": "a\x00b"}, emit=False)
    sb.inject_malformed(ids["longname"], name="N" * 600, emit=False)
    sb.inject_malformed(ids["longvalue"], metadata={"account_id": "longvalue", "note": "v" * 501}, emit=False)
    sb.inject_malformed(ids["email42"], email=42, emit=False)
    sb.inject_malformed(ids["longid"], id="cus_" + "x" * 400, emit=False)
    sb.inject_malformed(bad_price["id"], unit_amount_decimal="abc", emit=False)
    return sb, ids


@pytest.mark.postgres
def test_malformed_objects_are_quarantined_and_the_rest_is_stored_whole_on_postgresql(pg_store):
    sb, ids = _account()
    with sb:
        report = run_sync(pg_store, StripeApi.connect(sb.api_key, sb.url), CONFIG, full=True, now=START)
    quarantined = {(q.object_type, q.object_id) for q in report.quarantined}
    for name in ("nul", "longname", "longvalue", "email42"):
        assert ("customer", ids[name]) in quarantined, name
    assert ("subscription", ids["sub_badprice"]) in quarantined
    long_ids = [object_id for kind, object_id in quarantined if object_id.startswith("sha256:")]
    assert len(long_ids) == 1  # the 404-character customer id: filed under a digest, never cut
    with pg_store.session() as session:
        assert session.get(StripeCustomer, ("default", ids["fine"])).contact_id == "fine"
        assert session.get(StripeCustomer, ("default", ids["long"])).contact_id == LONG_ID
        assert session.get(Contact, LONG_ID) is not None
        assert session.get(Contact, LONG_ID[:255]) is None
        assert session.get(StripeSubscription, ("default", ids["sub_fine"])) is not None
        assert session.get(StripeCustomer, ("default", ids["email42"])) is None
        reasons = {row.object_id: row.reason for row in session.scalars(select(Quarantine))}
    assert "NUL" in reasons[ids["nul"]] and "metadata" in reasons[ids["longvalue"]]
    assert "email" in reasons[ids["email42"]] and "name" in reasons[ids["longname"]]
    assert "unit_amount_decimal" in reasons[ids["sub_badprice"]]


@pytest.mark.parametrize("raw, reason", [
    ({"id": "cus_1", "metadata": {"k" * 41: "v"}}, "key longer than 40"),
    ({"id": "cus_1", "metadata": {f"k{n}": "v" for n in range(51)}}, "51 keys"),
    ({"id": "cus_1", "name": "a\ud800b"}, "not valid Unicode"),
    ({"id": "cus_" + "x" * 300}, "at most 255"),
    ({"id": "cus_1", "email": 42}, "`email` is not text"),
])
def test_the_customer_check_enforces_stripes_limits(raw, reason):
    with pytest.raises(shapes.Malformed) as raised:
        shapes.check_customer(raw)
    assert reason in str(raised.value)


def test_what_stripe_allows_passes_the_check():
    shapes.check_customer({"id": "cus_1", "name": "n" * 256, "email": "e" * 500 + "@x.io",
                           "metadata": {f"{n:040d}": "v" * 500 for n in range(50)}})
