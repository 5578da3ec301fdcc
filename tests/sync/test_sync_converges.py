"""Ten days of account activity read only through incremental syncs end in exactly the state a
fresh full backfill reads: the mirror equals Stripe's current state."""

from __future__ import annotations

import random
from datetime import timedelta

from tests.sync.conftest import api_for, mirror_state
from worker.rules.model import SourceConfig
from worker.store.db import open_store
from worker.store.models import (
    StripeCustomer,
    StripePrice,
    StripeSubscription,
    SubscriptionItem,
)

NEVER = timedelta(days=365)  # no scheduled reconcile: every change must come from events


def _mutate(sandbox, rng: random.Random) -> None:
    subs = sandbox.store["subscription"].objects
    live = [s for s in subs.values() if s["status"] in ("active", "trialing", "past_due")]
    for sub in rng.sample(live, 4):
        choice = rng.choice(["quantity", "cancel", "schedule", "pay_fail", "metadata"])
        if choice == "quantity":
            sandbox.update_subscription(sub["id"], items=[{"id": sub["items"][0], "quantity": rng.randint(1, 9)}])
        elif choice == "cancel":
            sandbox.cancel_subscription(sub["id"])
        elif choice == "schedule":
            sandbox.update_subscription(sub["id"], cancel_at_period_end=True)
        elif choice == "pay_fail":
            sandbox.fail_payment(sub["id"])
        else:
            sandbox.update_subscription(sub["id"], metadata={"n": str(rng.randint(1, 99))})
    customers = [c for c in sandbox.store["customer"].objects if c not in sandbox.store.deleted_customers]
    sandbox.update_customer(rng.choice(customers), metadata={"account_id": f"moved-{rng.randint(1, 3)}"})
    if rng.random() < 0.5:
        sandbox.delete_customer(rng.choice(customers))


def test_incremental_syncs_converge_on_what_a_full_backfill_reads(tmp_path, sandbox):
    rng = random.Random(42)
    config = SourceConfig()
    followed, fresh = (open_store(f"sqlite:///{tmp_path / name}.db") for name in ("followed", "fresh"))
    try:
        from worker.sync import run_sync

        run_sync(followed, api_for(sandbox), config, full=True, now=sandbox.clock.now)
        applied = 0
        for _ in range(10):
            sandbox.advance(timedelta(days=1))
            _mutate(sandbox, rng)
            report = run_sync(followed, api_for(sandbox), config, full=False, now=sandbox.clock.now,
                              reconcile_every=NEVER)
            assert report.mode == "incremental" and report.quarantined == []
            applied += report.events_applied
        assert applied > 40
        run_sync(fresh, api_for(sandbox), config, full=True, now=sandbox.clock.now)
        models = (StripeCustomer, StripeSubscription, SubscriptionItem, StripePrice)
        assert mirror_state(followed, ignore=("changed_at",), models=models) == \
            mirror_state(fresh, ignore=("changed_at",), models=models)
    finally:
        followed.engine.dispose()
        fresh.engine.dispose()
