"""`check` catches what kills deliveries (issue 16, point 5): a `plan:` naming no synced price
is a warning (with a database to look in), a hubspot `stage_values` naming an unknown stage is
an error, and `interval:` conditions match subscriptions by billing interval."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from stripe_sandbox import Sandbox

SHIPPED = Path(__file__).resolve().parents[2] / "rules"
START = datetime(2026, 11, 1, tzinfo=timezone.utc)


def _rules(folder: Path, automations: str) -> Path:
    folder.mkdir()
    for name in ("stripe.yaml", "stages.yaml"):
        shutil.copy(SHIPPED / name, folder / name)
    (folder / "automations.yaml").write_text(automations)
    return folder


def test_a_stage_mapping_naming_an_unknown_stage_is_an_error_with_its_line(cli, tmp_path):
    folder = _rules(tmp_path / "rules", """automations:
  - name: crm
    on: stage_changed
    do:
      - hubspot:
          token: "pat-na1-0000"
          stage_values:
            customer: customer
            chrun: other
""")
    result = cli("check", "--rules", str(folder))
    assert result.returncode == 1
    assert "automations.yaml:9: automation 'crm': do: hubspot: stage_values: unknown stage 'chrun'; " \
           "did you mean 'churn'?" in result.stderr


def test_an_unknown_billing_interval_is_an_error(cli, tmp_path):
    folder = _rules(tmp_path / "rules", """automations:
  - name: annual
    on: renewal_due
    within: 14 days
    if: {interval: yaer}
    do: [log]
""")
    result = cli("check", "--rules", str(folder))
    assert result.returncode == 1
    assert "automations.yaml:5: automation 'annual': if: interval: unknown billing interval 'yaer'; " \
           "did you mean 'year'?" in result.stderr


@pytest.mark.slow
def test_plan_typos_warn_against_synced_prices_and_interval_year_picks_annual_renewals(cli, tmp_path):
    sb = Sandbox(api_key="sk_test_sandbox", start=START)
    product = sb.create_product("Pro")
    monthly = sb.create_price(product["id"], "usd", unit_amount=15000, interval="month", lookup_key="pro-monthly")
    yearly = sb.create_price(product["id"], "usd", unit_amount=150000, interval="year", lookup_key="pro-annual")
    for account, price in (("mona", monthly), ("yara", yearly)):
        customer = sb.create_customer(name=account.title(), metadata={"account_id": account})
        sb.create_subscription(customer["id"], [{"price": price["id"], "quantity": 1}])
    folder = _rules(tmp_path / "rules", """automations:
  - name: annual-heads-up
    on: renewal_due
    within: 400 days
    if: {interval: year}
    do: [log]
  - name: typo
    on: renewal_due
    within: 400 days
    if: {plan: [pro-anual, Pro]}
    do: [log]
""")
    db_url = f"sqlite:///{tmp_path / 'lc.db'}"
    with sb:
        env = {"STRIPE_API_KEY": sb.api_key, "STRIPE_API_BASE": sb.url, "RULES_DIR": str(folder),
               "DATABASE_URL": db_url}
        before = cli("check", env=env)  # no database yet: nothing to compare with, no warning
        assert before.returncode == 0 and "warning" not in before.stderr
        assert not (tmp_path / "lc.db").exists(), "check created the database"
        assert cli("sync", "--full", env=env).returncode == 0
        after = cli("check", env=env)
        fired = cli("evaluate", "--now", (START + timedelta(days=1)).isoformat(), "--json", env=env)
    assert after.returncode == 0, after.stderr
    assert "automations.yaml:7: warning: automation 'typo': if: plan: 'pro-anual' is no price lookup key" \
           in after.stderr and "did you mean 'pro-annual'?" in after.stderr
    assert "'Pro'" not in after.stderr  # a product name is known
    assert after.stdout.strip().endswith("1 warning")
    got = sorted((f["automation"], f["contact_id"]) for f in json.loads(fired.stdout))
    assert ("annual-heads-up", "yara") in got and ("annual-heads-up", "mona") not in got
