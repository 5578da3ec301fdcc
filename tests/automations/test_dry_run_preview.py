"""`evaluate --dry-run` shows what each action would send (issue 16, point 12): rendered
templates, secrets masked, narrowed by --contact and --automation; nothing is written."""

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
SLACK_URL = "https://hooks.slack.example/services/T000/B000/tokenvalue123"
HOOK_SECRET = "preview-secret-9f8e7d"
AUTOMATIONS = """automations:
  - name: heads-up
    on: renewal_due
    within: 40 days
    do:
      - slack: {webhook_url: "${SLACK_WEBHOOK_URL}", text: "{{ contact.name }} renews {{ contact.renewal_date }} ({{ contact.mrr | money }})"}
      - webhook: {url: "https://ops.example/hook", secret: "${HOOK_SECRET}"}
  - name: other
    on: renewal_due
    within: 40 days
    do: [log]
"""


def test_dry_run_shows_rendered_payloads_with_secrets_masked_and_filters(cli, tmp_path):
    sb = Sandbox(api_key="sk_test_sandbox", start=START)
    price = sb.create_price(sb.create_product("Pro")["id"], "usd", unit_amount=15000, interval="month")
    for account in ("acme", "bolt"):
        customer = sb.create_customer(name=account.title() + " Inc", metadata={"account_id": account})
        sb.create_subscription(customer["id"], [{"price": price["id"], "quantity": 1}])
    folder = tmp_path / "rules"
    folder.mkdir()
    for name in ("stripe.yaml", "stages.yaml"):
        shutil.copy(SHIPPED / name, folder / name)
    (folder / "automations.yaml").write_text(AUTOMATIONS)
    with sb:
        env = {"STRIPE_API_KEY": sb.api_key, "STRIPE_API_BASE": sb.url, "RULES_DIR": str(folder),
               "DATABASE_URL": f"sqlite:///{tmp_path / 'lc.db'}", "SLACK_WEBHOOK_URL": SLACK_URL,
               "HOOK_SECRET": HOOK_SECRET}
        assert cli("sync", "--full", env=env).returncode == 0
        at = (START + timedelta(days=5)).isoformat()
        dry = cli("evaluate", "--now", at, "--dry-run", "--contact", "acme", "--automation", "heads-up", env=env)
        as_json = cli("evaluate", "--now", at, "--dry-run", "--json", "--automation", "other", env=env)
        refused = cli("evaluate", "--now", at, "--contact", "acme", env=env)
        real = cli("evaluate", "--now", at, "--json", env=env)
    assert dry.returncode == 0, dry.stderr
    text = dry.stdout
    assert "heads-up → acme (treated):" in text and "bolt" not in text.split("would fire")[1].split("contacts,")[0]
    assert "Acme Inc renews 2026-12-01T00:00:00Z (150.00 USD)" in text
    slack = next(line for line in text.splitlines() if line.strip().startswith("slack:"))
    assert json.loads(slack.split("slack:", 1)[1])["webhook_url"] == "***"
    hook = next(line for line in text.splitlines() if line.strip().startswith("webhook:"))
    preview = json.loads(hook.split("webhook:", 1)[1])
    assert preview["url"] == "https://ops.example/hook" and preview["secret"] == "***"
    assert preview["body"]["automation"] == "heads-up" and preview["body"]["contact"]["contact_id"] == "acme"
    assert SLACK_URL not in text and HOOK_SECRET not in text and "tokenvalue123" not in text
    assert "(1 shown)" in text or "(1 shown" in text
    assert sorted(f["contact_id"] for f in json.loads(as_json.stdout)) == ["acme", "bolt"]
    assert {f["automation"] for f in json.loads(as_json.stdout)} == {"other"}
    assert refused.returncode == 2 and "--dry-run" in refused.stderr
    assert len(json.loads(real.stdout)) == 4  # the dry runs wrote nothing
