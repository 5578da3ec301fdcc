"""With several Stripe accounts the scheduled sync is one queue message per account, so free
workers sync them in parallel; a webhook's re-fetch message names its account (issue #18 point 6)."""

from __future__ import annotations

from datetime import UTC, datetime

from worker.runtime.queue import DramatiqQueue
from worker.runtime.runtime import Runtime
from worker.settings import load_settings
from worker.sync.service import sync_job

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


class RecordingActor:
    def __init__(self) -> None:
        self.sent: list[tuple] = []

    def send(self, *args: object) -> None:
        self.sent.append(args)


def test_the_scheduled_sync_sends_one_message_per_account(tmp_path, monkeypatch):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "stripe.yaml").write_text('accounts:\n  - {name: eu, api_key: "${KEY_EU}"}\n'
                                       '  - {name: us, api_key: "${KEY_US}"}\n')
    monkeypatch.setenv("KEY_EU", "sk_test_eu_0000000001")
    monkeypatch.setenv("KEY_US", "sk_test_us_0000000002")
    actors = {"sync_account": RecordingActor(), "refetch": RecordingActor()}
    runtime = Runtime(load_settings(rules_dir=rules, database_url=f"sqlite:///{tmp_path / 'x.db'}"),
                      queue=DramatiqQueue(actors))
    try:
        assert sync_job(runtime, NOW, full=True) is None  # nothing synced here: the workers do it
        assert actors["sync_account"].sent == [("eu", NOW.isoformat(), True), ("us", NOW.isoformat(), True)]
        runtime.queue.refetch("subscription", "sub_1", NOW, "us")
        runtime.queue.refetch("subscription", "sub_2", NOW)
        assert actors["refetch"].sent == [("subscription", "sub_1", NOW.isoformat(), "us"),
                                          ("subscription", "sub_2", NOW.isoformat())]
    finally:
        runtime.close()
