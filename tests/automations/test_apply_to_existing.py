"""`apply_to_existing: true` (issue 16, point 11): a new automation also fires, at its first
evaluation, for contacts already in the state its trigger describes — a cancellation scheduled
before it existed, a contact already churned — while one without the option (the default)
waits for the next change, as before. Real sandbox over HTTP, real CLI processes."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from stripe_sandbox import Sandbox

pytestmark = pytest.mark.slow
SHIPPED = Path(__file__).resolve().parents[2] / "rules"
START = datetime(2026, 11, 1, tzinfo=timezone.utc)
FIRST = """automations:
  - name: old-timer
    on: renewal_due
    within: 1 day
    do: [log]
"""
LATER = FIRST + """  - name: save-them
    on: cancellation_scheduled
    apply_to_existing: true
    do: [log]
  - name: save-them-from-now-on
    on: cancellation_scheduled
    do: [log]
  - name: win-back
    on: stage_changed
    to: churn
    apply_to_existing: true
    do: [log]
"""


def test_apply_to_existing_fires_for_the_state_contacts_are_already_in_once(cli, tmp_path):
    sb = Sandbox(api_key="sk_test_sandbox", start=START)
    price = sb.create_price(sb.create_product("Pro")["id"], "usd", unit_amount=15000, interval="month")
    subs = {}
    for account in ("acme", "bolt", "cask"):
        customer = sb.create_customer(name=account.title(), metadata={"account_id": account})
        subs[account] = sb.create_subscription(customer["id"], [{"price": price["id"], "quantity": 1}])["id"]
    folder = tmp_path / "rules"
    folder.mkdir()
    for name in ("stripe.yaml", "stages.yaml"):
        shutil.copy(SHIPPED / name, folder / name)
    (folder / "automations.yaml").write_text(FIRST)
    with sb:
        env = {"STRIPE_API_KEY": sb.api_key, "STRIPE_API_BASE": sb.url, "RULES_DIR": str(folder),
               "DATABASE_URL": f"sqlite:///{tmp_path / 'lc.db'}"}

        def evaluate(at: datetime, *extra: str) -> list[tuple[str, str, str]]:
            result = cli("evaluate", "--now", at.isoformat(), "--json", *extra, env=env)
            assert result.returncode == 0, result.stderr[-2000:]
            return sorted((f["automation"], f["contact_id"], f["trigger"]) for f in json.loads(result.stdout))

        assert cli("sync", "--full", env=env).returncode == 0
        assert evaluate(START + timedelta(hours=1)) == []  # the baseline
        sb.advance(timedelta(days=1))
        sb.update_subscription(subs["bolt"], cancel_at_period_end=True)
        sb.cancel_subscription(subs["cask"])
        assert cli("sync", env=env).returncode == 0
        assert evaluate(START + timedelta(days=1, hours=1)) == []  # nobody listens yet

        (folder / "automations.yaml").write_text(LATER)
        at = START + timedelta(days=2)
        dry = evaluate(at, "--dry-run")
        first = evaluate(at)
        again = evaluate(at + timedelta(hours=1))
    expected = [("save-them", "bolt", "cancellation_scheduled"), ("win-back", "cask", "stage_changed")]
    assert dry == first == expected  # not save-them-from-now-on: the default waits for a change
    assert again == []  # once, at the first evaluation only
