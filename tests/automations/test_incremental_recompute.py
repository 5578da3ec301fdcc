"""An evaluation pass recomputes only contacts whose inputs moved (worker.compute.dirty), yet
time-based triggers still fire for every contact, a discount ending is still caught, and a
full pass still happens when the rules change and at least every `FULL_EVERY`."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from stripe_sandbox import Sandbox
from worker.automations.service import run_evaluation
from worker.compute import history
from worker.compute.dirty import FULL_EVERY, mirror_keys, next_time_change
from worker.rules.loader import load_rules
from worker.runtime.runtime import Runtime
from worker.settings import load_settings
from worker.store.db import open_store
from worker.store.models import ContactState, Firing, StripeSubscription
from worker.stripe_api.transport import StripeApi
from worker.sync.runner import run_sync

START = datetime(2026, 11, 1, tzinfo=UTC)
SHIPPED = Path(__file__).resolve().parents[2] / "rules"
AUTOMATIONS = (
    "automations:\n  - name: heads-up\n    on: renewal_due\n    within: 7 days\n"
    "    do:\n      - log: {message: hi}\n")


class World:
    """Three contacts with monthly USD subscriptions (renewing on Dec 1), synced and evaluated
    through the real sync and `run_evaluation`; `computed` lists the ids each recompute call of
    the last pass read (a full pass reads every contact, a chunk per call; no call at all when
    nothing needed it)."""

    def __init__(self, tmp_path: Path, monkeypatch, preset: str = "stripe", full_every: timedelta | None = None):
        rules = tmp_path / "rules"
        rules.mkdir()
        shutil.copy(SHIPPED / "stages.yaml", rules / "stages.yaml")
        (rules / "stripe.yaml").write_text((SHIPPED / "stripe.yaml").read_text()
                                           .replace("preset: stripe ", f"preset: {preset} "))
        (rules / "automations.yaml").write_text(AUTOMATIONS)
        self.rules_dir = rules
        self.sb = Sandbox(api_key="sk_test_sandbox", start=START)
        product = self.sb.create_product("Pro")
        self.price = self.sb.create_price(product["id"], "usd", unit_amount=1000)
        self.subs = {}
        for name in ("a", "b", "c"):
            customer = self.sb.create_customer(metadata={"account_id": name})
            self.subs[name] = self.sb.create_subscription(customer["id"], [{"price": self.price["id"], "quantity": 1}])
        self.store = open_store(f"sqlite:///{tmp_path / 'lc.db'}")
        # the safety net's period, long unless a test is about it (passes here span weeks)
        full_every = full_every or timedelta(days=365)
        self.settings = load_settings(database_url=str(self.store.engine.url), rules_dir=rules,
                                      recompute_full_every=int(full_every.total_seconds()))
        self.runtime: Runtime | None = None
        self.computed: list[list[str] | None] = []
        real = history.compute_contacts

        def spy(session, source, stages, *, now, contact_ids=None, **kwargs):
            self.computed.append(None if contact_ids is None else sorted(contact_ids))
            return real(session, source, stages, now=now, contact_ids=contact_ids, **kwargs)

        monkeypatch.setattr(history, "compute_contacts", spy)
        self.sb.start()
        self.api = StripeApi.connect(self.sb.api_key, self.sb.url)
        self.pass_(full=True)
        self.sb.advance(timedelta(hours=1))
        self.pass_()  # re-reads the setup's events (the cursor's overlap): they were at START
        self.computed.clear()

    def pass_(self, *, full: bool = False):
        """Sync and evaluate now; `computed` then holds this pass's recompute calls only."""
        self.computed.clear()
        now = self.sb.clock.now
        run_sync(self.store, self.api, load_rules(self.rules_dir, {}).source, full=full, now=now,
                 reconcile_every=timedelta(days=365))
        if self.runtime is None:
            self.runtime = Runtime(self.settings, store=self.store)
        return run_evaluation(self.runtime, now, engine="reference")

    def state(self, contact_id: str) -> ContactState:
        with self.store.session() as session:
            return session.get(ContactState, contact_id)

    def close(self) -> None:
        self.sb.stop()
        self.store.engine.dispose()


@pytest.fixture
def world(tmp_path, monkeypatch):
    w = World(tmp_path, monkeypatch)
    yield w
    w.close()


def test_only_a_changed_contact_is_recomputed_yet_every_contact_gets_its_renewal_due(world):
    world.sb.advance(timedelta(days=25))  # Nov 26: every renewal (Dec 1) is within 7 days
    world.sb.update_subscription(world.subs["b"]["id"], items=[
        {"id": world.sb.retrieve("subscription", world.subs["b"]["id"])["items"]["data"][0]["id"], "quantity": 3}])
    result = world.pass_()
    assert world.computed == [["b"]]  # a and c are clean: not recomputed
    assert world.state("b").mrr_minor == 3000  # b's change was computed and stored
    assert world.state("a").mrr_minor == 1000
    assert sorted(f.contact_id for f in result.fired) == ["a", "b", "c"]  # time trigger for all
    world.sb.advance(timedelta(days=1))
    again = world.pass_()
    assert world.computed == []  # nothing moved: nothing recomputed
    assert again.fired == []  # and each renewal fired once


def test_a_full_reconcile_recomputes_only_the_contacts_whose_objects_changed(world):
    """A reconcile sees (touches) every object; only a real change makes a contact dirty."""
    world.sb.advance(timedelta(days=2))
    world.sb.update_subscription(world.subs["c"]["id"], cancel_at_period_end=True)
    world.pass_(full=True)
    assert world.computed == [["c"]]
    assert [sub["cancel_at_period_end"] for sub in world.state("c").snapshot["subscriptions"]] == [True]
    world.pass_(full=True)
    assert world.computed == []  # a second reconcile sees nothing new


def test_a_write_stamped_earlier_than_the_contacts_latest_still_changes_its_digest(world):
    """A webhook re-fetch can commit a later stamp before a long reconcile commits its earlier
    one: the digest must see the second write even though the contact's latest stamp stays."""
    customer = world.sb.retrieve("subscription", world.subs["a"]["id"])["customer"]
    second = world.sb.create_subscription(customer, [{"price": world.price["id"], "quantity": 2}])
    world.pass_()
    first_id, second_id = world.subs["a"]["id"], second["id"]
    with world.store.session() as session:
        session.execute(update(StripeSubscription).where(StripeSubscription.id == first_id)
                        .values(written_at=START + timedelta(days=30)))  # the webhook's later stamp
        before = mirror_keys(session)
        session.execute(update(StripeSubscription).where(StripeSubscription.id == second_id)
                        .values(written_at=START + timedelta(days=20)))  # the reconcile's earlier one
        after = mirror_keys(session)
    assert after["a"] != before["a"]
    assert after["b"] == before["b"]


def test_a_customer_moving_to_another_contact_recomputes_both(world):
    customer = world.subs["c"]["customer"]
    world.sb.advance(timedelta(days=1))
    world.sb.update_customer(customer, metadata={"account_id": "a"})
    world.pass_()
    assert world.computed == [["a", "c"]]
    assert world.state("a").mrr_minor == 2000 and world.state("c").mrr_minor == 0


def test_a_full_pass_at_least_every_full_every_and_when_the_rules_change(tmp_path, monkeypatch):
    w = World(tmp_path, monkeypatch, full_every=FULL_EVERY)
    try:
        w.sb.advance(FULL_EVERY - timedelta(days=1))
        w.pass_()
        assert w.computed == []
        w.sb.advance(timedelta(days=1))
        w.pass_()
        assert w.computed == [["a", "b", "c"]]  # FULL_EVERY since the first (full) pass: everyone
        w.sb.advance(timedelta(days=1))
        w.pass_()
        assert w.computed == []
        stripe_yaml = w.rules_dir / "stripe.yaml"
        stripe_yaml.write_text(stripe_yaml.read_text().replace("gbp: 1.27", "gbp: 1.3"))
        w.pass_()
        assert w.computed == [["a", "b", "c"]]  # FX rates changed: every contact again
    finally:
        w.close()


def test_a_contact_that_could_not_be_computed_is_tried_again_next_pass(world):
    world.sb.advance(timedelta(days=1))
    with world.store.session() as session:
        session.get(ContactState, "b").mirror_key = None  # what a failed compute leaves
    world.pass_()
    assert world.computed == [["b"]]
    assert world.state("b").mirror_key is not None


def test_a_discount_ending_recomputes_a_clean_contact_when_it_ends(tmp_path, monkeypatch):
    w = World(tmp_path, monkeypatch, preset="chartmogul")
    try:
        coupon = w.sb.create_coupon(percent_off=50, duration="repeating", duration_in_months=1)
        w.sb.advance(timedelta(days=1))
        w.sb.update_subscription(w.subs["a"]["id"], coupon=coupon["id"])
        w.pass_()
        assert w.state("a").mrr_minor == 500
        ends = w.state("a").recompute_at
        assert ends is not None and ends > w.sb.clock.now  # the discount's end
        w.sb.advance(ends - w.sb.clock.now - timedelta(hours=1))
        w.pass_()  # (the monthly renewals on the way changed every contact)
        assert w.state("a").mrr_minor == 500 and w.state("a").recompute_at == ends
        w.sb.advance(timedelta(hours=2))
        w.pass_()
        assert w.computed == [["a"]]  # nothing changed in Stripe, but the discount ended
        assert w.state("a").mrr_minor == 1000
    finally:
        w.close()


def test_next_time_change_is_the_earliest_future_discount_start_or_end():
    now = datetime(2026, 1, 10, tzinfo=UTC)
    ts = lambda day: int(datetime(2026, 1, day, tzinfo=UTC).timestamp())
    subs = [
        {"discounts": [{"start": ts(1), "end": ts(20)}]},
        {"items": {"data": [{"discounts": [{"start": ts(15), "end": None}]}]}},
        {"discounts": [{"start": ts(2), "end": ts(5)}]},  # already over
    ]
    assert next_time_change(subs, now) == datetime(2026, 1, 15, tzinfo=UTC)
    assert next_time_change(subs[2:], now) is None
    assert next_time_change([{"status": "active"}], now) is None
    # a customer-level discount ending later also makes the contact due (its subscriptions inherit it)
    assert next_time_change(subs[2:], now, [{"start": ts(1), "end": ts(12)}]) == datetime(2026, 1, 12, tzinfo=UTC)


def test_firings_store_their_window_end(world):
    (world.rules_dir / "automations.yaml").write_text(AUTOMATIONS + "    goal: {kind: renewal, grace: 3 days}\n")
    world.sb.advance(timedelta(days=25))
    world.pass_()
    with world.store.session() as session:
        ends = {f.contact_id: f.window_end - f.renewal_date for f in session.scalars(select(Firing))}
    assert ends == {c: timedelta(days=3) for c in ("a", "b", "c")}
