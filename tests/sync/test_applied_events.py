"""One fetch per change with webhooks (issue #18 point 4): a change a webhook re-fetch already
read is not fetched again by the next poll, which reads the same event from /v1/events; a change
whose webhook was lost (or one of several changes of an object) is still re-fetched by the poll.

Everything over real HTTP: the webhook is POSTed, signed, to the product's web app; the re-fetch
and the poll talk to the Stripe sandbox, whose requests are counted by path."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from stripe_sandbox import Sandbox
from worker.runtime.process import build_web
from worker.runtime.queue import DramatiqQueue, InlineQueue
from worker.runtime.runtime import Runtime
from worker.settings import load_settings
from worker.store.models import AppliedEvent, StripeSubscription
from worker.sync import applied
from worker.sync.service import sync_job

SECRET = "whsec_appliedevents0123456789"
SHIPPED = Path(__file__).resolve().parents[2] / "rules"
START = datetime(2026, 11, 1, tzinfo=UTC)


class _NoEvaluation(InlineQueue):
    """Re-fetches run inline (as in an embedded `web`); the changes pass is not this test's."""

    def evaluate(self, tick) -> None:
        pass

    def evaluate_changes(self, tick) -> None:
        pass


class World:
    def __init__(self, tmp_path: Path, database_url: str, accounts: bool) -> None:
        rules = tmp_path / "rules"
        rules.mkdir()
        shutil.copy(SHIPPED / "stages.yaml", rules / "stages.yaml")
        stripe_yaml = (SHIPPED / "stripe.yaml").read_text()
        self.sb = Sandbox(api_key="sk_test_applied_0001", start=START)
        product = self.sb.create_product("Pro")
        price = self.sb.create_price(product["id"], "usd", unit_amount=1000)
        self.subs = {}
        for name in ("a", "b", "c"):
            customer = self.sb.create_customer(metadata={"account_id": name})
            self.subs[name] = self.sb.create_subscription(customer["id"], [{"price": price["id"], "quantity": 1}])
        self.sb.start()
        self.path = "/stripe/webhook"
        if accounts:  # the account `eu`, its webhook at /stripe/webhook/eu
            stripe_yaml += ('\naccounts:\n  - {name: eu, api_key: "${KEY_EU}", '
                            f'api_base: "{self.sb.url}", webhook_secret: "${{HOOK_EU}}"}}\n')
            self.path, self.account = "/stripe/webhook/eu", "eu"
        else:
            self.account = "default"
        (rules / "stripe.yaml").write_text(stripe_yaml)
        settings = load_settings(database_url=database_url, rules_dir=rules, stripe_api_key=self.sb.api_key,
                                 stripe_api_base=self.sb.url, stripe_max_rps=1000, stripe_webhook_secret=SECRET)
        self.runtime = Runtime(settings, queue=_NoEvaluation(), clock=lambda: self.sb.clock.now)
        self.runtime.queue.bind(self.runtime)
        self.client = TestClient(build_web(self.runtime))
        self.poll(full=True)
        self.sb.advance(timedelta(hours=1))
        self.poll()  # past the setup's events and the cursor's overlap
        self.gets: Counter = Counter()
        self._count()

    def _count(self) -> None:
        api = self.sb._server.httpd.RequestHandlerClass.api
        handle, lock = api.handle, threading.Lock()

        def counted(method, path, params, version=None):
            with lock:
                self.gets[f"{method} {path}"] += 1
            return handle(method, path, params, version)

        api.handle = counted

    def poll(self, full: bool = False):
        return sync_job(self.runtime, self.sb.clock.now, full=full, account=self.account)

    def change(self, name: str, **fields) -> dict:
        """Change a subscription in the sandbox; the event it made."""
        self.sb.advance(timedelta(seconds=5))
        self.sb.update_subscription(self.subs[name]["id"], **fields)
        return self.sb.events()[-1]

    def deliver(self, event: dict) -> None:
        """POST the signed event to the webhook endpoint, as Stripe does."""
        body = json.dumps(event).encode()
        t = str(int(self.sb.clock.now.timestamp()))
        v1 = hmac.new(SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
        answer = self.client.post(self.path, content=body, headers={"Stripe-Signature": f"t={t},v1={v1}",
                                                                    "Content-Type": "application/json"})
        assert answer.status_code == 200, answer.text

    def fetches(self, name: str) -> int:
        return self.gets[f"GET /v1/subscriptions/{self.subs[name]['id']}"]

    def close(self) -> None:
        self.client.close()
        self.runtime.close()
        self.sb.stop()


@pytest.fixture
def world(tmp_path, database_url):
    w = World(tmp_path, database_url, accounts=False)
    yield w
    w.close()


def test_a_webhooked_change_costs_one_get_of_the_object_in_total(world):
    event = world.change("a", cancel_at_period_end=True)
    world.deliver(event)
    assert world.fetches("a") == 1  # the webhook's re-fetch
    report = world.poll()
    assert report.events_applied >= 1  # the poll read the event from /v1/events ...
    assert world.fetches("a") == 1  # ... and did not fetch the object again
    assert report.objects_refetched == 0 and report.objects_already_read == 1
    assert world.poll().events_applied == 0  # the cursor moved past it


def test_a_change_whose_webhook_was_lost_is_refetched_by_the_poll(world):
    world.deliver(world.change("a", cancel_at_period_end=True))
    world.change("b", cancel_at_period_end=True)  # its webhook never arrives
    report = world.poll()
    assert world.fetches("a") == 1 and world.fetches("b") == 1
    assert report.objects_refetched == 1 and report.objects_already_read == 1
    with world.runtime.store().session() as session:
        stored = session.scalar(select(StripeSubscription).where(StripeSubscription.id == world.subs["b"]["id"]))
        assert stored.cancel_at_period_end is True


def test_an_object_with_one_webhooked_and_one_unwebhooked_change_is_refetched_by_the_poll(world):
    world.deliver(world.change("a", cancel_at_period_end=True))
    world.change("a", metadata={"plan": "gold"})  # the second change's webhook is lost
    report = world.poll()
    assert world.fetches("a") == 2  # the webhook's re-fetch, then the poll's for the second event
    assert report.objects_refetched == 1 and report.objects_already_read == 0


def test_a_failed_refetch_records_nothing_and_the_poll_refetches(world, monkeypatch):
    from worker.sync import service

    def broken(*args, **kwargs):
        raise RuntimeError("Stripe was unreachable")

    monkeypatch.setattr(service, "refetch", broken)
    event = world.change("a", cancel_at_period_end=True)
    with pytest.raises(RuntimeError):
        world.runtime.queue.refetch("subscription", world.subs["a"]["id"], world.sb.clock.now,
                                    event_id=event["id"])
    monkeypatch.undo()
    world.poll()
    assert world.fetches("a") == 1  # the poll's


def test_applied_events_are_pruned_after_a_day(world):
    world.deliver(world.change("a", cancel_at_period_end=True))
    with world.runtime.store().session() as session:
        assert session.scalar(select(func.count()).select_from(AppliedEvent)) == 1
    world.sb.advance(applied.KEEP + timedelta(minutes=1))
    world.poll()
    with world.runtime.store().session() as session:
        assert session.scalar(select(func.count()).select_from(AppliedEvent)) == 0


def test_each_account_records_its_own_applied_events(tmp_path, database_url, monkeypatch):
    monkeypatch.setenv("KEY_EU", "sk_test_applied_0001")
    monkeypatch.setenv("HOOK_EU", SECRET)
    w = World(tmp_path, database_url, accounts=True)
    try:
        w.deliver(w.change("a", cancel_at_period_end=True))
        report = w.poll()
        assert w.fetches("a") == 1 and report.objects_already_read == 1
        with w.runtime.store().session() as session:
            assert set(session.scalars(select(AppliedEvent.account))) == {"eu"}
    finally:
        w.close()


class _Actor:
    def __init__(self) -> None:
        self.sent: list[tuple] = []

    def send(self, *args: object) -> None:
        self.sent.append(args)


def test_the_refetch_message_carries_the_event_id_and_old_messages_still_work(world):
    actor = _Actor()
    now = world.sb.clock.now
    DramatiqQueue({"refetch": actor}).refetch("subscription", "sub_1", now, "eu", event_id="evt_1")
    DramatiqQueue({"refetch": actor}).refetch("subscription", "sub_2", now)
    assert actor.sent == [("subscription", "sub_1", now.isoformat(), "eu", "evt_1"),
                          ("subscription", "sub_2", now.isoformat())]
    # an old message (no event id) runs: the object is re-read, nothing is recorded
    from worker import tasks
    from worker.runtime.current import install_runtime
    before = install_runtime(world.runtime)
    try:
        world.change("a", cancel_at_period_end=True)
        tasks.refetch.fn("subscription", world.subs["a"]["id"], None)
    finally:
        install_runtime(before)
    assert world.fetches("a") == 1
    with world.runtime.store().session() as session:
        assert session.scalar(select(func.count()).select_from(AppliedEvent)) == 0


def test_webhook_refetches_of_subscriptions_sharing_a_coupon_read_it_once(world):
    """A coupon read by one re-fetch is remembered by the process (worker.sync.source.CouponMemo):
    each re-fetch used to ask `GET /v1/coupons/{id}` again."""
    coupon = world.sb.create_coupon(percent_off=20, duration="forever")
    events = [world.change(name, coupon=coupon["id"]) for name in ("a", "b")]
    for event in events:
        world.deliver(event)
    assert world.fetches("a") == 1 and world.fetches("b") == 1
    assert world.gets[f"GET /v1/coupons/{coupon['id']}"] == 1
    with world.runtime.store().session() as session:
        for name in ("a", "b"):
            raw = session.scalar(select(StripeSubscription.raw).where(StripeSubscription.id == world.subs[name]["id"]))
            discount = (raw.get("discounts") or [raw.get("discount")])[0]
            full = discount.get("coupon") or discount["source"]["coupon"]  # (its place since 2025-09-30)
            assert full["percent_off"] == 20 and "applies_to" in full  # the full coupon, in both


def test_a_refetched_subscription_that_kept_its_coupon_reads_it_from_the_stored_copy(world, monkeypatch):
    """Another process (nothing in its CouponMemo): the stored subscription holds the full coupon."""
    from worker.sync import run as run_module
    from worker.sync.source import CouponMemo

    coupon = world.sb.create_coupon(percent_off=15, duration="forever")
    world.change("a", coupon=coupon["id"])
    world.poll()  # stores the subscription with its full coupon
    assert world.gets[f"GET /v1/coupons/{coupon['id']}"] == 1
    monkeypatch.setattr(run_module, "COUPONS", CouponMemo())
    world.deliver(world.change("a", metadata={"seats": "9"}))
    assert world.fetches("a") == 2  # the poll's, then the webhook's
    assert world.gets[f"GET /v1/coupons/{coupon['id']}"] == 1  # not asked again
    with world.runtime.store().session() as session:
        raw = session.scalar(select(StripeSubscription.raw).where(StripeSubscription.id == world.subs["a"]["id"]))
    discount = (raw.get("discounts") or [raw.get("discount")])[0]
    full = discount.get("coupon") or discount["source"]["coupon"]
    assert full["percent_off"] == 15 and "applies_to" in full and raw["metadata"] == {"seats": "9"}
