"""What the console's speed at size rests on gives the same answers (issue #17, "fast at size";
figures in bench/console_pages.py): the stored reporting-currency MRR (`contact_state.mrr_sort`)
written with every snapshot and kept right across FX rate changes, the indexed search, the
at-risk view walking an index — on SQLite and PostgreSQL."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, text

from tests.console.conftest import NOW, TOKEN

BEARER = {"Authorization": f"Bearer {TOKEN}"}
RATES = {"eur": "1.08", "gbp": "1.27", "cad": "0.73", "jpy": "0.0067", "aud": "0.66", "chf": "1.12", "sek": "0.095"}


def _fx(rules_dir):
    from worker.core.money import FxTable
    from worker.rules.loader import load_rules

    return FxTable.from_config(load_rules(rules_dir, {}).source.mrr)


def _write_rates(rules_dir, rates: dict[str, str]) -> None:
    import os

    path = rules_dir / "stripe.yaml"
    body = ", ".join(f"{code}: {rate}" for code, rate in rates.items())
    path.write_text(f"mrr:\n  currency: usd\n  fx_rates: {{{body}}}\n")
    stat = path.stat()  # a new mtime even within the filesystem's timestamp resolution
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))


def _everyone(console) -> list[dict]:
    return console.get("/api/accounts?per_page=200", headers=BEARER).json()["accounts"]


def _worth(accounts, fx) -> dict[str, object]:
    return {a["contact_id"]: fx.convert_minor(a["mrr"]["amount_minor"], a["mrr"]["currency"]) for a in accounts}


def _by_mrr(console, order: str = "desc") -> list[str]:
    ids: list[str] = []
    for page in (1, 2, 3):
        body = console.get(f"/api/accounts?sort=mrr&order={order}&per_page=10&page={page}", headers=BEARER).json()
        ids += [a["contact_id"] for a in body["accounts"]]
    return ids


def _expected(worth: dict, descending: bool = True) -> list[str]:
    return sorted(worth, key=lambda c: (-worth[c] if descending else worth[c], c))


def test_the_snapshot_writes_the_reporting_mrr_with_the_rates_it_used(world):
    from worker.compute import mrr_sort
    from worker.store.models import ContactState

    fx = _fx(world.rules_dir)
    with world.store.session() as session:
        rows = session.scalars(select(ContactState)).all()
    assert len(rows) == world.contacts
    assert {r.mrr_fx for r in rows} == {mrr_sort.fx_key(fx)}
    for row in rows:
        exact = fx.convert_minor(row.mrr_minor, row.currency)
        assert abs(Decimal(row.mrr_sort) - Decimal(exact.numerator) / Decimal(exact.denominator)) < Decimal("1e-6")
    assert len({r.currency for r in rows}) > 1  # the world spans currencies: the sort must convert


def test_sort_by_mrr_across_currencies_follows_a_rate_change(console, world):
    from worker.compute import mrr_sort
    from worker.store.models import ContactState

    everyone = _everyone(console)
    before = _worth(everyone, _fx(world.rules_dir))
    assert _by_mrr(console) == _expected(before)[:30]
    assert _by_mrr(console, "asc") == _expected(before, descending=False)[:30]

    # Make one currency worth far more: its contacts must move to the top.
    currency = next(a["mrr"]["currency"] for a in everyone if a["mrr"]["currency"] != "usd" and a["mrr"]["amount_minor"])
    _write_rates(world.rules_dir, {**RATES, currency: "40"})
    after = _worth(everyone, _fx(world.rules_dir))
    assert _expected(after)[:30] != _expected(before)[:30]
    assert _by_mrr(console) == _expected(after)[:30]
    with world.store.session() as session:  # the stale rows were recomputed with the new rates
        assert mrr_sort.stale_count(session, _fx(world.rules_dir)) == 0
        row = session.scalars(select(ContactState).where(ContactState.currency == currency)).first()
        assert Decimal(row.mrr_sort) == mrr_sort.sort_value(_fx(world.rules_dir), row.mrr_minor, currency)


def test_many_stale_rows_sort_right_by_converting_until_the_background_refresh(console, world, monkeypatch):
    from worker.compute import mrr_sort
    from worker.console.context import ConsoleContext

    everyone = _everyone(console)
    monkeypatch.setattr(mrr_sort, "INLINE_REFRESH_MAX", 0)  # as if the store were large
    monkeypatch.setattr(ConsoleContext, "_refresh_mrr_sort", lambda self, rules: None)
    currency = next(a["mrr"]["currency"] for a in everyone if a["mrr"]["currency"] != "usd" and a["mrr"]["amount_minor"])
    _write_rates(world.rules_dir, {**RATES, currency: "0.001"})
    fx = _fx(world.rules_dir)
    expected = _expected(_worth(everyone, fx))[:30]
    assert _by_mrr(console) == expected
    with world.store.session() as session:
        assert mrr_sort.stale_count(session, fx) == world.contacts  # nothing refreshed: the per-row order served
        assert mrr_sort.refresh(session, fx, limit=7) == 7  # what the background refresh does, batch by batch
        while mrr_sort.refresh(session, fx, limit=7):
            pass
        assert mrr_sort.stale_count(session, fx) == 0
    assert _by_mrr(console) == expected


def test_search_finds_by_name_substring_email_contact_id_and_customer_id(console, world):
    account = console.get(f"/api/accounts/{world.contact}", headers=BEARER).json()
    name, email, customer = account["name"], account["email"], account["stripe_customer_ids"][0]
    assert name and email
    middle = name[1:-1].upper() if len(name) > 4 else name.upper()  # a substring, in another case
    for term in (middle, email.split("@")[0][1:], email.upper(), world.contact, world.contact[:-1], customer):
        found = console.get("/api/accounts", params={"q": term, "per_page": 200}, headers=BEARER).json()
        ids = [a["contact_id"] for a in found["accounts"]]
        assert world.contact in ids, term
        assert found["total"] == len(ids)
        everyone = _everyone(console)
        low = term.lower()
        expected = {a["contact_id"] for a in everyone if low in (a["name"] or "").lower()
                    or low in (a["email"] or "").lower() or a["contact_id"].startswith(term)
                    or term in a["stripe_customer_ids"]}
        assert set(ids) == expected, term
    assert console.get("/api/accounts", params={"q": "_"}, headers=BEARER).json()["total"] == 0  # no wildcard


@pytest.mark.postgres
def test_lookups_by_contact_id_never_go_through_a_trigram_index(postgres_url):
    """pg_trgm answers `=` too: with a trigram index on the bare id, the planner sent the sync's
    `id = ANY(<500 ids>)` through it (≈ 8 ms an id, 4 s a batch). The id's prefix search uses a
    `varchar_pattern_ops` btree instead (migration 0010)."""
    from worker.store.db import open_store

    store = open_store(postgres_url)
    at = datetime(2026, 11, 1, tzinfo=UTC)
    try:
        with store.engine.begin() as conn:
            conn.execute(text("INSERT INTO contacts (id, type, source, created_at, updated_at) "
                              "SELECT 'acct-1-' || lpad(g::text, 6, '0'), 'account', 'import', :at, :at "
                              "FROM generate_series(1, 20000) g"), {"at": at})
            conn.execute(text("ANALYZE contacts"))
        with store.engine.connect() as conn:
            defs = list(conn.scalars(text("SELECT indexdef FROM pg_indexes WHERE tablename = 'contacts'")))
            ids = [f"acct-1-{n:06d}" for n in range(1, 20000, 40)]
            plans = []
            for mode in ("force_generic_plan", "force_custom_plan"):
                conn.execute(text(f"SET plan_cache_mode = {mode}"))
                conn.exec_driver_sql("PREPARE by_ids(text[]) AS SELECT id FROM contacts WHERE id = ANY($1)")
                literal = "'{" + ",".join(ids) + "}'"  # plain ids: nothing to quote
                plans.append("\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN EXECUTE by_ids({literal})")))
                conn.exec_driver_sql("DEALLOCATE by_ids")
            conn.execute(text("SET enable_seqscan = off"))
            prefix = "\n".join(conn.scalars(text(r"EXPLAIN SELECT id FROM contacts WHERE id LIKE 'acct-1-0001\_%' ESCAPE '\'")))
    finally:
        store.engine.dispose()
    assert not [d for d in defs if "gin_trgm_ops" in d and "lower(" not in d], defs
    assert all("trgm" not in plan for plan in plans), plans
    assert "ix_contacts_id_prefix" in prefix, prefix


@pytest.mark.postgres
def test_the_migration_makes_the_trigram_indexes_on_postgresql_and_the_search_uses_them(postgres_url):
    from worker.store.db import open_store
    from worker.store.models import OPTIONAL_INDEXES

    store = open_store(postgres_url)
    try:
        with store.engine.connect() as conn:
            names = set(conn.scalars(text("SELECT indexname FROM pg_indexes WHERE tablename = 'contacts'")))
            conn.execute(text("SET enable_seqscan = off"))  # an empty table: ask whether the index can serve
            plan = "\n".join(conn.scalars(text("EXPLAIN SELECT id FROM contacts WHERE lower(name) LIKE '%acme%'")))
    finally:
        store.engine.dispose()
    assert set(OPTIONAL_INDEXES) <= names
    assert "ix_contacts_name_trgm" in plan


def test_at_risk_view_with_a_stage_and_a_search_counts_and_sums_its_matches(console, world):
    from datetime import datetime, timedelta

    everyone = _everyone(console)

    def risky(account) -> bool:
        renewal = account["renewal_date"] and datetime.fromisoformat(account["renewal_date"].replace("Z", "+00:00"))
        return bool(renewal and NOW <= renewal <= NOW + timedelta(days=30)) or any(
            s["status"] in ("past_due", "unpaid")
            or (s["status"] in ("active", "trialing", "incomplete") and (s["cancel_at_period_end"] or s["cancel_at"]))
            for s in account["subscriptions"])

    for params, keep in ((
            {"stage": "customer"}, lambda a: a["stage"] == "customer"),
            ({"q": "@"}, lambda a: "@" in (a["email"] or "") or "@" in (a["name"] or ""))):
        expected = [a for a in everyone if risky(a) and keep(a)]
        got = console.get("/api/accounts", params={"at_risk": 1, "days": 30, "per_page": 200, "sort": "mrr", **params},
                          headers=BEARER).json()
        assert sorted(a["contact_id"] for a in got["accounts"]) == sorted(a["contact_id"] for a in expected)
        assert got["total"] == len(expected) > 0
        stake: dict[str, int] = {}
        for a in expected:
            stake[a["mrr"]["currency"]] = stake.get(a["mrr"]["currency"], 0) + a["mrr"]["amount_minor"]
        assert {t["currency"]: t["amount_minor"] for t in got["mrr_total"]} == stake


def test_at_risk_view_counts_contacts_not_yet_evaluated_by_their_subscriptions(console, world):
    from datetime import datetime, timedelta

    from sqlalchemy import delete

    from worker.store.models import ContactState

    everyone = _everyone(console)
    with world.store.session() as session:
        keep = set(session.scalars(select(ContactState.contact_id).order_by(ContactState.contact_id).limit(8)).all())
        session.execute(delete(ContactState).where(ContactState.contact_id.not_in(keep)))

    def risky(account) -> bool:  # without a stored state only the subscriptions can tell
        renewal = account["renewal_date"] and datetime.fromisoformat(account["renewal_date"].replace("Z", "+00:00"))
        soon = account["contact_id"] in keep and bool(renewal and NOW <= renewal <= NOW + timedelta(days=30))
        return soon or any(
            s["status"] in ("past_due", "unpaid")
            or (s["status"] in ("active", "trialing", "incomplete") and (s["cancel_at_period_end"] or s["cancel_at"]))
            for s in account["subscriptions"])

    expected = {a["contact_id"] for a in everyone if risky(a)}
    assert expected - keep  # some of them have no stored state
    for sort in ("mrr", "contact"):
        pages = [console.get(f"/api/accounts?at_risk=1&days=30&sort={sort}&per_page=4&page={n}", headers=BEARER).json()
                 for n in range(1, 12)]
        ids = [a["contact_id"] for page in pages for a in page["accounts"]]
        assert len(ids) == len(set(ids)) and set(ids) == expected, sort
        assert pages[0]["total"] == len(expected), sort


@pytest.mark.postgres
def test_without_the_right_to_create_pg_trgm_the_migration_goes_on_and_the_search_still_finds(postgres_url):
    """A database user that may not create extensions (not a superuser, not the owner): no
    trigram indexes, no error, and the search answers the same from a scan."""
    import uuid
    from datetime import UTC, datetime

    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from worker.console.accounts import AccountQuery, list_accounts
    from worker.rules.loader import load_rules
    from worker.store.db import open_store
    from tests.console.conftest import STAGES_YAML, STRIPE_YAML
    from worker.store.models import OPTIONAL_INDEXES, Contact

    role = f"lc_noext_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        conn.execute(text(f'GRANT CREATE, USAGE ON SCHEMA public TO "{role}"'))
    url = make_url(postgres_url).set(username=role).render_as_string(hide_password=False)
    store = None
    try:
        store = open_store(url)  # migrates as that role
        with store.engine.connect() as conn:
            names = set(conn.scalars(text("SELECT indexname FROM pg_indexes WHERE tablename = 'contacts'")))
            extensions = set(conn.scalars(text("SELECT extname FROM pg_extension")))
        assert not set(OPTIONAL_INDEXES) & names and "pg_trgm" not in extensions
        at = datetime(2026, 11, 1, tzinfo=UTC)
        with store.session() as session:
            session.add(Contact(id="acct-42", type="account", name="Globex Corporation", email="ops@globex.example",
                                source="import", created_at=at, updated_at=at))
        folder = Path(tempfile.mkdtemp())  # any valid rule set: the search reads none of it
        (folder / "stages.yaml").write_text(STAGES_YAML)
        (folder / "stripe.yaml").write_text(STRIPE_YAML)
        rules = load_rules(folder, {})
        for term in ("BEX CORP", "ops@glo", "acct-4"):
            with store.session() as session:
                page = list_accounts(session, rules, AccountQuery(q=term), now=NOW)
            assert [a["contact_id"] for a in page.accounts] == ["acct-42"], term
    finally:
        if store is not None:
            store.engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}" CASCADE'))
            conn.execute(text(f'DROP ROLE "{role}"'))
        admin.dispose()


def test_at_size_no_request_waits_for_the_first_report_build(console, world, monkeypatch):
    """While the first build runs (minutes at 100,000 contacts) the report answers 503 "being
    built" at once and the Automations pages render without the outcome numbers."""
    import threading

    import worker.report.build as build
    from worker.console import context

    release, started = threading.Event(), threading.Event()
    real = build.build_report

    def slow_build(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        started.set()
        release.wait(60)  # the test releases it; 60 s only so a broken test cannot hang
        return real(*args, **kwargs)

    monkeypatch.setattr(build, "build_report", slow_build)
    monkeypatch.setattr(context, "SMALL_STORE", 1)  # this store counts as "at size"
    monkeypatch.setattr(context, "REPORT_WAIT_S", 3600.0)  # a wait would hold the request until released
    monkeypatch.setattr(context.gc, "freeze", lambda: None)  # not this test process's objects
    answer = console.get("/api/report", headers=BEARER)
    assert started.is_set() and not release.is_set()  # answered while the build still runs
    assert answer.status_code == 503 and "being built" in answer.json()["error"]
    from tests.console.conftest import log_in

    log_in(console)
    for path in ("/automations", "/automations/renewal-heads-up", "/revenue"):
        answer = console.get(path, follow_redirects=True)
        assert not release.is_set()
        if path == "/revenue":
            assert answer.status_code == 503 and "being built" in answer.text
        else:
            assert answer.status_code == 200 and "renewal-heads-up" in answer.text
    assert "being computed" in console.get("/automations").text
    release.set()
    for _ in range(600):
        done = console.get("/api/report", headers=BEARER)
        if done.status_code == 200:
            break
        threading.Event().wait(0.1)
    assert done.status_code == 200 and done.json()["automations"][0]["name"] == "renewal-heads-up"
