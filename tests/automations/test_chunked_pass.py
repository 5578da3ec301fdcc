"""A full evaluation pass walks its contacts in chunks (issue 18, point 2: bounded memory): the
recompute, the snapshots read and the matcher see at most `chunk` contacts at a time, each
chunk is committed before the next is read, and the firings and counts are exactly those of a
pass done in one piece. Real sandbox over HTTP, real sync, SQLite."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from stripe_sandbox import Sandbox
from worker.automations import evaluate as evaluate_module
from worker.automations.evaluate import evaluate
from worker.compute import history
from worker.engine import build_matcher
from worker.rules.loader import load_rules
from worker.store.db import Store, open_store
from worker.store.models import ContactState
from worker.stripe_api.transport import StripeApi
from worker.sync.runner import run_sync

START = datetime(2026, 11, 1, tzinfo=UTC)
SHIPPED = Path(__file__).resolve().parents[2] / "rules"
AUTOMATIONS = """automations:
  - name: heads-up
    on: renewal_due
    within: 40 days
    do: [log]
  - name: save-them
    on: cancellation_scheduled
    do: [log]
"""
CONTACTS = 7


@dataclass
class Seen:
    """The largest number of contacts one call saw, per stage of the pass."""

    computed: list[int] = field(default_factory=list)
    read: list[int] = field(default_factory=list)
    matched: list[int] = field(default_factory=list)

    def clear(self) -> None:
        self.computed.clear(), self.read.clear(), self.matched.clear()


@pytest.fixture
def seen(monkeypatch) -> Seen:
    spy = Seen()
    real_compute, real_current = history.compute_contacts, evaluate_module._current

    def compute(session, source, stages, *, now, contact_ids=None, **kwargs):
        spy.computed.append(len(contact_ids))  # never None: a pass names its chunk
        return real_compute(session, source, stages, now=now, contact_ids=contact_ids, **kwargs)

    def current(session, contact_ids, fresh):
        spy.read.append(len(contact_ids))
        return real_current(session, contact_ids, fresh)

    monkeypatch.setattr(history, "compute_contacts", compute)
    monkeypatch.setattr(evaluate_module, "_current", current)
    return spy


class CountingMatcher:
    def __init__(self, automations, seen: Seen, fail_on_call: int | None = None) -> None:
        self.inner, self.seen, self.calls, self.fail_on_call = build_matcher(automations, "reference"), seen, 0, \
            fail_on_call

    def match(self, found):
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise RuntimeError("matcher down")
        self.seen.matched.append(len({o.contact_id for o in found}))
        return self.inner.match(found)


@pytest.fixture
def world(tmp_path):
    sb = Sandbox(api_key="sk_test_sandbox", start=START)
    price = sb.create_price(sb.create_product("Pro")["id"], "usd", unit_amount=1000)
    subs = []
    for n in range(CONTACTS):
        customer = sb.create_customer(metadata={"account_id": f"acct-{n}"})
        subs.append(sb.create_subscription(customer["id"], [{"price": price["id"], "quantity": 1}])["id"])
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    for name in ("stages.yaml", "stripe.yaml"):
        shutil.copy(SHIPPED / name, rules_dir / name)
    (rules_dir / "automations.yaml").write_text(AUTOMATIONS)
    sb.start()
    try:
        yield sb, subs, load_rules(rules_dir, {}), tmp_path
    finally:
        sb.stop()


def _synced(sb: Sandbox, rules, path: Path, *, full: bool, store: Store | None = None) -> Store:
    store = store or open_store(f"sqlite:///{path}")
    run_sync(store, StripeApi.connect(sb.api_key, sb.url), rules.source, full=full, now=sb.clock.now,
             reconcile_every=timedelta(days=365))
    return store


def _summary(result) -> tuple:
    return ([f.to_json() for f in result.fired], result.contacts, result.changed, result.occurrences,
            result.baseline)


def test_a_chunked_pass_holds_one_chunk_and_fires_exactly_what_a_whole_pass_fires(world, seen):
    sb, subs, rules, tmp_path = world
    chunked = _synced(sb, rules, tmp_path / "chunked.db", full=True)
    whole = _synced(sb, rules, tmp_path / "whole.db", full=True)
    passes = []
    for step in range(3):
        now = sb.clock.now
        seen.clear()
        small = evaluate(chunked, rules, CountingMatcher(rules.automations, seen), now=now, chunk=3)
        assert max(seen.computed, default=0) <= 3 and max(seen.read) <= 3 and max(seen.matched) <= 3
        if step != 1:  # a pass over everyone: 7 contacts in chunks of 3, 3 and 1
            assert seen.read == [3, 3, 1]
        seen.clear()
        big = evaluate(whole, rules, CountingMatcher(rules.automations, seen), now=now, chunk=1000)
        assert len(seen.read) == 1  # one chunk holds everyone
        passes.append(_summary(small))
        assert _summary(small) == _summary(big)
        if step == 0:  # then a change: two cancellations scheduled, seen by the next (targeted) pass
            sb.advance(timedelta(days=1))
            for sub in subs[2:4]:
                sb.update_subscription(sub, cancel_at_period_end=True)
        elif step == 1:  # then a day later: the daily safety net looks at everyone again
            sb.advance(timedelta(days=2))
        for store in (chunked, whole):
            _synced(sb, rules, tmp_path, full=False, store=store)
    first, changed, safety_net = passes
    assert first[4] is True and len(first[0]) == CONTACTS  # baseline: every renewal due within 40 days
    assert sorted(f["automation"] for f in changed[0]) == ["save-them", "save-them"]
    assert safety_net[1] == CONTACTS and safety_net[0] == []  # everyone looked at, nothing new to fire


def test_each_chunk_is_committed_so_a_pass_that_fails_midway_keeps_the_chunks_done(world, seen):
    sb, _subs, rules, tmp_path = world
    store = _synced(sb, rules, tmp_path / "lc.db", full=True)
    with pytest.raises(RuntimeError, match="matcher down"):
        evaluate(store, rules, CountingMatcher(rules.automations, seen, fail_on_call=2), now=sb.clock.now, chunk=3)
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(ContactState)) == 3  # the first chunk only
    again = evaluate(store, rules, CountingMatcher(rules.automations, seen), now=sb.clock.now, chunk=3)
    reference = _synced(sb, rules, tmp_path / "reference.db", full=True)
    whole = evaluate(reference, rules, CountingMatcher(rules.automations, seen), now=sb.clock.now, chunk=1000)
    # the retry fires what the failed pass had not: the first chunk's firings were committed with it
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(ContactState)) == CONTACTS
    fired_again = {(f.automation, f.contact_id) for f in again.fired}
    fired_whole = {(f.automation, f.contact_id) for f in whole.fired}
    assert fired_again < fired_whole and len(fired_whole - fired_again) == 3


@pytest.mark.postgres
def test_a_long_pass_on_postgresql_analyzes_the_tables_it_fills_as_they_double(world, seen, postgres_url):
    """Without statistics PostgreSQL planned the pass's per-chunk deletes as sequential scans
    (quadratic at 300,000 contacts; worker.store.analyze): a pass of several chunks ANALYZEs
    the state tables after its 2nd (and 4th, 8th …) chunk; a one-chunk pass does not."""
    from sqlalchemy import text

    from worker.store.analyze import STATE_TABLES

    sb, _subs, rules, _tmp = world

    def analyzed(store: Store) -> dict[str, int]:
        with store.session() as session:
            return dict(session.execute(text(
                "SELECT relname, analyze_count FROM pg_stat_user_tables WHERE relname = ANY(:names)"),
                {"names": list(STATE_TABLES)}).all())

    store = open_store(postgres_url)
    try:
        store = _synced(sb, rules, Path("unused"), full=True, store=store)
        before = analyzed(store)
        evaluate(store, rules, CountingMatcher(rules.automations, seen), now=sb.clock.now, chunk=1000)
        assert analyzed(store) == before  # one chunk: nothing to re-plan
        sb.advance(timedelta(days=2))  # the daily safety net: everyone again, now in chunks of 3
        _synced(sb, rules, Path("unused"), full=False, store=store)
        evaluate(store, rules, CountingMatcher(rules.automations, seen), now=sb.clock.now, chunk=3,
                 full_every=timedelta(days=1))
        after = analyzed(store)  # 7 contacts in chunks of 3: 3 chunks, ANALYZE after the 2nd
        assert all(after[table] == before.get(table, 0) + 1 for table in STATE_TABLES), (before, after)
    finally:
        store.engine.dispose()
