"""Fuzzing (issue 15): random and adversarial input for the webhook receiver, the rule loader,
the CSV importer and the Stripe object validator. Each must answer within a stated bound —
hypothesis' `deadline` per example (BOUND), pytest-timeout per test — with a result or a
plain problem, never a traceback, and lose nothing else: the genuine webhook after garbage
is enqueued, the good CSV rows around bad ones are imported, the good customer in a batch
with a fuzzed one is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.testclient import TestClient

from worker.contacts.importer import import_contacts, read_contacts_csv
from worker.errors import LifecycleError
from worker.rules.loader import load_rules
from worker.settings import load_settings
from worker.store.db import open_store
from worker.store.models import StripeCustomer
from worker.sync import shapes
from worker.sync.run import SyncRun
from worker.rules.model import ContactsConfig, SourceConfig
from worker.web.webhook import webhook_routes

BOUND = timedelta(seconds=10)  # per example, on a busy 2-core machine; typical is milliseconds
FUZZ = settings(max_examples=120, deadline=BOUND, suppress_health_check=[HealthCheck.too_slow,
                HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SECRET = "whsec_fuzz_secret_value"
SHIPPED = Path(__file__).resolve().parents[2] / "rules"

# adversarial text: NULs, lone surrogates, huge, quotes, YAML/CSV syntax, ids with paths
NASTY = st.sampled_from(["\x00", "\ud800", "x" * 20_000, '"', "'", "*a", "&a", "[" * 200, "{", "\n", ",",
                         "../../v1/customers", "é", "\u202e", "%00", "0" * 400, "-1", "1e400", "NaN"])
TEXT = st.one_of(st.text(max_size=60), NASTY, st.builds(lambda a, b: a + b, NASTY, st.text(max_size=20)))
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
                    max_leaves=20)


def _signed(body: bytes, at: datetime = NOW) -> dict[str, str]:
    t = str(int(at.timestamp()))
    sig = hmac.new(SECRET.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={t},v1={sig}", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def receiver():
    enqueued: list[tuple[str, str]] = []
    app = Starlette(routes=webhook_routes(load_settings(stripe_webhook_secret=SECRET), lambda *t, **k: enqueued.append(t),
                                          lambda: NOW))
    with TestClient(app, raise_server_exceptions=True) as client:
        yield client, enqueued


EVENT = st.fixed_dictionaries({"id": TEXT, "type": st.sampled_from(["customer.updated", "customer.subscription.updated",
                                                                     "price.created"]) | TEXT,
                               "data": st.fixed_dictionaries({"object": st.dictionaries(TEXT, JSON, max_size=3)
                                                              | st.fixed_dictionaries({"id": TEXT})}) | JSON})


@pytest.mark.timeout(600)
@FUZZ
@given(body=st.one_of(st.binary(max_size=2000), EVENT.map(lambda e: json.dumps(e).encode())),
       sign=st.booleans(), header=st.one_of(st.none(), TEXT))
def test_the_webhook_receiver_answers_anything_with_200_or_400_and_loses_no_genuine_event(receiver, body, sign,
                                                                                       header):
    client, enqueued = receiver
    before = len(enqueued)
    headers = _signed(body) if sign else ({"Stripe-Signature": header} if header and header.isprintable()
                                          and header.isascii() else {})
    answer = client.post("/stripe/webhook", content=body, headers=headers)
    assert answer.status_code in (200, 400), answer.text
    assert len(enqueued) - before <= (1 if answer.status_code == 200 and sign else 0)
    genuine = json.dumps({"id": "evt_1", "type": "customer.updated", "data": {"object": {"id": "cus_1"}}}).encode()
    assert client.post("/stripe/webhook", content=genuine, headers=_signed(genuine)).status_code == 200
    assert enqueued[-1] == ("customer", "cus_1")


YAML_PIECES = st.sampled_from(["automations:\n", "  - name: x\n", "    on: renewal_due\n", "    within: 3 days\n",
                               "mrr: &m {preset: stripe}\n", "x: [*m, *m, *m]\n", "stages: " + "[" * 60, "]" * 60,
                               "contacts: {type: account}\n", "\t", ": :", "- - -\n", "? ", "!!python/object ",
                               "${HOME}\n", "%YAML 1.1\n", "--- \n", "'", '"', "\x00", "\ud800"])


@pytest.mark.timeout(600)
@FUZZ
@given(text=st.one_of(st.text(max_size=400), st.lists(st.one_of(YAML_PIECES, TEXT), max_size=25).map("".join)))
def test_the_rule_loader_answers_any_file_with_rules_or_file_line_problems(text):
    with tempfile.TemporaryDirectory() as folder:
        rules = Path(folder)
        for name in ("stripe.yaml", "stages.yaml"):
            (rules / name).write_text((SHIPPED / name).read_text())
        (rules / "fuzz.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            load_rules(rules, {})
        except LifecycleError as exc:
            for problem in getattr(exc, "problems", []):
                assert problem.split(":")[0] in ("fuzz.yaml", "stripe.yaml", "stages.yaml"), problem
                assert problem.split(":")[1].isdigit(), problem


GOOD_ROWS = [f"good-{n},account,Good {n},g{n}@example.com" for n in range(3)]
CSV_LINE = st.one_of(TEXT.map(lambda t: t.replace("\n", " ").replace("\r", " ").replace('"', "'")),
                     st.lists(TEXT.map(lambda t: t.replace("\n", " ").replace("\r", " ").replace('"', "'")),
                              max_size=6).map(",".join))


@pytest.mark.timeout(600)
@FUZZ
@given(bad=st.lists(CSV_LINE, max_size=8), raw=st.binary(max_size=300))
def test_the_csv_importer_reports_bad_rows_and_imports_every_good_one(bad, raw, tmp_path_factory):
    folder = tmp_path_factory.mktemp("csv")
    lines = ["id,type,name,email", GOOD_ROWS[0], *bad[:4], GOOD_ROWS[1], *bad[4:], GOOD_ROWS[2]]
    path = folder / "contacts.csv"
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass") + b"\n")
    rows, problems = read_contacts_csv(path)
    good = {r.id for r in rows}
    dup = {line.split(",")[0].strip() for line in bad}
    assert {f"good-{n}" for n in range(3) if f"good-{n}" not in dup} <= good
    assert all(p.startswith("contacts.csv:") and p.split(":")[1].isdigit() for p in problems)
    store = open_store(f"sqlite:///{folder / 'lc.db'}")
    try:
        result = import_contacts(store, rows, NOW, None)
        assert result.created == len(rows)
    finally:
        store.engine.dispose()
    path.write_bytes(raw)  # arbitrary bytes: a result or a plain error
    try:
        read_contacts_csv(path)
    except LifecycleError:
        pass


GOOD_CUSTOMER = {"id": "cus_good", "object": "customer", "created": 1_700_000_000, "email": "a@b.co", "name": "Good",
                 "metadata": {"account_id": "acme"}, "currency": "usd"}


@pytest.fixture(scope="module")
def mirror_store(tmp_path_factory):
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('mirror') / 'lc.db'}")
    yield store
    store.engine.dispose()


class _Offline:
    """The source's completion step without Stripe: the validator under test runs before it."""

    def complete_customer(self, raw):  # noqa: ANN001, ANN201
        return raw


@pytest.mark.timeout(600)
@FUZZ
@given(changes=st.dictionaries(st.sampled_from(["id", "name", "email", "metadata", "created", "currency", "deleted",
                                                 "address", "extra"]) | TEXT, JSON, max_size=4),
       whole=st.one_of(st.none(), JSON))
def test_the_stripe_object_validator_stores_or_quarantines_anything_and_keeps_the_good_one(mirror_store, changes,
                                                                                        whole):
    fuzzed = whole if whole is not None else {**GOOD_CUSTOMER, "id": "cus_fuzz", **changes}
    run = SyncRun(store=mirror_store, source=_Offline(), config=SourceConfig(contacts=ContactsConfig()), now=NOW)
    with mirror_store.session() as session:
        run.apply_customers(session, [fuzzed, dict(GOOD_CUSTOMER)], stamp=NOW, at=None)
    with mirror_store.session() as session:
        assert session.get(StripeCustomer, ("default", "cus_good")) is not None
    try:
        shapes.check_customer(fuzzed)
    except shapes.Malformed:
        assert run.report.quarantined
