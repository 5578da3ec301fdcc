"""Work proportional to what changed (issue #18, point 1): a webhook's re-fetch evaluates only
its contacts, a burst of changes is one pass, time-based triggers find the contacts whose dates
enter a window from the indexed `contact_times`, and a full pass remains the safety net."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.automations.test_incremental_recompute import World
from tests.triggers.builders import DAY, NOW, contact, sub
from worker.automations.service import run_evaluation
from worker.runtime.queue import InlineQueue
from worker.runtime.runtime import Runtime
from worker.sync.service import refetch_job
from worker.automations import evaluate as evaluate_module
from worker.automations import scope
from worker.compute import dirty, times
from worker.settings import load_settings
from worker.store.models import Contact, ContactTime, EvaluationQueue


class Spy:
    """Records, per pass, the contacts whose occurrences were computed and whose mirror rows were read."""

    def __init__(self, monkeypatch):
        self.looked_at: list[str] = []
        self.digested: list[list[str] | None] = []
        real_occurrences, real_keys = evaluate_module.occurrences, dirty._mirror_keys

        def occurrences(prev, new, now, settings, **kwargs):
            self.looked_at.append(new.contact_id)
            return real_occurrences(prev, new, now, settings, **kwargs)

        def mirror_keys(session, ids, **kwargs):
            if "between" not in kwargs:  # (a scheduled pass compares everyone's digests by id range)
                self.digested.append(None if ids is None else sorted(ids))
            return real_keys(session, ids, **kwargs)

        monkeypatch.setattr(evaluate_module, "occurrences", occurrences)
        monkeypatch.setattr(dirty, "_mirror_keys", mirror_keys)

    def clear(self) -> None:
        self.looked_at.clear()
        self.digested.clear()


class _RecordingQueue(InlineQueue):
    """Runs everything inline but records the changes passes asked for (sent after a delay)."""

    def __init__(self, sent: list[dict]) -> None:
        super().__init__()
        self.sent = sent

    def evaluate_changes(self, tick) -> None:
        self.sent.append({"tick": tick})


@pytest.fixture
def world(tmp_path, monkeypatch):
    monkeypatch.setattr(scope, "FULL_EVERY", timedelta(days=365))  # the safety net has its own test
    w = World(tmp_path, monkeypatch)
    w.settings = load_settings(database_url=str(w.store.engine.url), rules_dir=w.rules_dir,
                               stripe_api_key=w.sb.api_key, stripe_api_base=w.sb.url, stripe_max_rps=1000,
                               recompute_full_every=365 * 86400)
    sent: list[dict] = []
    w.runtime = Runtime(w.settings, store=w.store, queue=_RecordingQueue(sent))
    w.sent = sent
    yield w
    w.close()


def _change_quantity(world: World, name: str, quantity: int) -> None:
    sub_id = world.subs[name]["id"]
    item = world.sb.retrieve("subscription", sub_id)["items"]["data"][0]["id"]
    world.sb.update_subscription(sub_id, items=[{"id": item, "quantity": quantity}])


def test_one_webhook_evaluates_only_its_contacts(world, monkeypatch):
    spy = Spy(monkeypatch)
    world.sb.advance(timedelta(days=2))
    _change_quantity(world, "b", 3)
    now = world.sb.clock.now
    refetch_job(world.runtime, "subscription", world.subs["b"]["id"], now)
    assert len(world.sent) == 1  # a changes pass was asked for
    with world.store.session() as session:
        assert session.scalars(select(EvaluationQueue.contact_id)).all() == ["b"]
    spy.clear()
    world.computed.clear()
    run_evaluation(world.runtime, now, changes_only=True)
    assert world.computed == [["b"]]  # recomputed: b only
    assert spy.looked_at == ["b"]  # occurrences: b only
    assert spy.digested == [["b"]]  # mirror rows read: b's only, not everyone's
    assert world.state("b").mrr_minor == 3000
    with world.store.session() as session:
        assert session.scalar(select(func.count()).select_from(EvaluationQueue)) == 0


def test_a_burst_of_changes_is_one_pass_over_their_contacts(world, monkeypatch):
    spy = Spy(monkeypatch)
    world.sb.advance(timedelta(days=2))
    _change_quantity(world, "a", 2)
    _change_quantity(world, "c", 5)
    now = world.sb.clock.now
    for name in ("a", "c", "a"):
        refetch_job(world.runtime, "subscription", world.subs[name]["id"], now)
    spy.clear()
    world.computed.clear()
    for _ in world.sent:  # one message per change; the first pass takes them all
        run_evaluation(world.runtime, now, changes_only=True)
    assert world.computed == [["a", "c"]]
    assert sorted(spy.looked_at) == ["a", "c"]
    assert (world.state("a").mrr_minor, world.state("c").mrr_minor) == (2000, 5000)


def test_a_failed_changes_pass_leaves_its_contacts_queued(world, monkeypatch):
    world.sb.advance(timedelta(days=2))
    _change_quantity(world, "b", 4)
    now = world.sb.clock.now
    refetch_job(world.runtime, "subscription", world.subs["b"]["id"], now)

    def boom(*args, **kwargs):
        raise RuntimeError("engine down")

    with monkeypatch.context() as patch:
        patch.setattr(evaluate_module, "_fire", boom)
        with pytest.raises(RuntimeError):
            run_evaluation(world.runtime, now, changes_only=True)
    with world.store.session() as session:
        assert session.scalars(select(EvaluationQueue.contact_id)).all() == ["b"]
    run_evaluation(world.runtime, now, changes_only=True)
    assert world.state("b").mrr_minor == 4000


def test_a_scheduled_pass_looks_only_at_contacts_whose_dates_enter_a_window(world, monkeypatch):
    spy = Spy(monkeypatch)
    world.sb.advance(timedelta(days=9))  # Nov 10: renewals (Dec 1) are 21 days away
    assert world.pass_().fired == []
    assert spy.looked_at == []  # nothing changed and no date entered the 7-day window
    spy.clear()
    world.sb.advance(timedelta(days=16))  # Nov 26: the renewals entered the window
    fired = world.pass_().fired
    assert sorted(spy.looked_at) == ["a", "b", "c"]
    assert sorted(f.contact_id for f in fired) == ["a", "b", "c"]
    spy.clear()
    world.sb.advance(timedelta(hours=6))
    assert world.pass_().fired == [] and spy.looked_at == []  # already inside: not looked at again


def test_the_safety_net_looks_at_every_contact_daily(world, monkeypatch):
    spy = Spy(monkeypatch)
    world.sb.advance(timedelta(days=2))
    world.pass_()
    assert spy.looked_at == []
    monkeypatch.setattr(scope, "FULL_EVERY", timedelta(days=1))
    spy.clear()
    world.sb.advance(timedelta(days=1))
    world.pass_()
    assert sorted(spy.looked_at) == ["a", "b", "c"]


def test_a_new_time_window_in_the_rules_looks_at_everyone_once(world, monkeypatch):
    spy = Spy(monkeypatch)
    world.sb.advance(timedelta(days=9))  # Nov 10: renewals 21 days away
    (world.rules_dir / "automations.yaml").write_text(
        "automations:\n  - name: early\n    on: renewal_due\n    within: 30 days\n"
        "    do:\n      - log: {message: hi}\n")
    fired = world.pass_().fired
    assert sorted(f.contact_id for f in fired) == ["a", "b", "c"]  # already inside the new window
    assert sorted(spy.looked_at) == ["a", "b", "c"]


def test_contact_times_hold_the_dates_time_triggers_read(sqlite_store):
    trial = sub("sub_t", "trialing", trial_end=NOW + 3 * DAY, renewal=NOW + 3 * DAY)
    late = sub("sub_p", "past_due", status_since=NOW - 2 * DAY, renewal=NOW + 9 * DAY)
    snapshots = [contact("trial", trial, contact_id="t1"), contact("customer", late, contact_id="p1"),
                 contact("customer", sub("sub_r", renewal=NOW + 20 * DAY), contact_id="r1")]
    assert times.time_rows(snapshots[0]) == {("renewal_due", NOW + 3 * DAY), ("trial_ending", NOW + 3 * DAY)}
    with sqlite_store.session() as session:
        for cid in ("t1", "p1", "r1"):
            session.add(Contact(id=cid, type="account", source="import", created_at=NOW, updated_at=NOW))
        session.flush()
        times.write_times(session, snapshots)
        times.write_times(session, snapshots)  # rewriting replaces, never duplicates
        assert session.scalar(select(func.count()).select_from(ContactTime)) == 5
        trial_4d = [("trial_ending", timedelta(days=4))]
        # NOW+3d enters a 4-day window at NOW-1d
        assert times.entering(session, trial_4d, NOW - 2 * DAY, NOW - DAY) == {"t1"}
        assert times.entering(session, trial_4d, NOW - DAY + timedelta(hours=1), NOW) == set()
        past_1d = [("past_due_for", timedelta(days=1))]
        assert times.entering(session, past_1d, NOW - DAY - DAY / 2, NOW) == {"p1"}  # since+1d = NOW-1d
        assert times.entering(session, past_1d, NOW - DAY / 2, NOW) == set()
        renewal = [("renewal_due", timedelta(days=7)), ("renewal_due", timedelta(days=19))]
        assert times.entering(session, renewal, NOW - DAY, NOW + DAY) == {"r1"}
        assert times.entering(session, renewal, NOW - DAY, NOW) == set()  # NOW+20d is past NOW+19d


def test_a_webhook_for_an_object_read_since_it_arrived_is_not_fetched_again(world, monkeypatch):
    from worker.sync import service as runner  # the re-fetch use-case's view of `refetch`

    world.sb.advance(timedelta(days=2))
    _change_quantity(world, "b", 6)
    first = world.sb.clock.now
    received = first - timedelta(milliseconds=50)  # two webhooks for one change, both before the read
    refetch_job(world.runtime, "subscription", world.subs["b"]["id"], first, received_at=received)
    fetches = []
    real = runner.refetch
    monkeypatch.setattr(runner, "refetch", lambda *a, **k: fetches.append(a) or real(*a, **k))
    refetch_job(world.runtime, "subscription", world.subs["b"]["id"], first + timedelta(seconds=1),
                     received_at=received)
    assert fetches == []  # the first read started after this webhook arrived
    later = first + timedelta(seconds=2)
    refetch_job(world.runtime, "subscription", world.subs["b"]["id"], later, received_at=later)
    assert len(fetches) == 1  # a webhook that arrived after the last read is fetched
