"""Templates from untrusted rule files (issue 15 item 7, issue 16 point 4): `check` refuses what
would fail or escape at send time (FILE:LINE), and rendering is bounded in time and size, so a
10 MB message or nested range(100000) loops fail in seconds instead of hanging `evaluate`."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from actions.base import PermanentFailure
from actions.templates import MAX_OUTPUT_CHARS, make_renderer
from stripe_sandbox import Sandbox
from worker.store.db import open_store
from worker.store.models import Delivery

SHIPPED = Path(__file__).resolve().parents[2] / "rules"
START = datetime(2026, 11, 1, tzinfo=timezone.utc)
HOOK = "https://hooks.example/x"

BAD = f"""automations:
  - name: bad-templates
    on: stage_changed
    do:
      - slack:
          webhook_url: "{HOOK}"
          text: "{{{{ contact.nmae }}}} is now {{{{ contact.stage }}}}"
      - slack:
          webhook_url: "{HOOK}"
          text: "{{{{ contact.mrr | mony }}}}"
      - slack:
          webhook_url: "{HOOK}"
          text: "{{% if false %}}{{{{ ''.__class__.__mro__ }}}}{{% endif %}}ok"
      - slack:
          webhook_url: "{HOOK}"
          text: "{{{{ contact|attr('__class__') }}}}"
      - slack:
          webhook_url: "{HOOK}"
          text: "{{% for i in range(100000) %}}{{% for j in range(100000) %}}{{% endfor %}}{{% endfor %}}"
      - slack:
          webhook_url: "{HOOK}"
          text: "{{{{ subscription.id }}}}"
      - slack:
          webhook_url: "{HOOK}"
          text: "{{{{ 'x' * 10000000 }}}}"
  - name: fine
    on: canceled
    do:
      - slack: {{webhook_url: "{HOOK}", text: "{{{{ contact.name }}}} cancelled {{{{ subscription.id }}}}"}}
"""


def _rules(folder: Path, automations: str) -> Path:
    folder.mkdir()
    for name in ("stripe.yaml", "stages.yaml"):
        shutil.copy(SHIPPED / name, folder / name)
    (folder / "automations.yaml").write_text(automations)
    return folder


def test_check_refuses_templates_that_would_fail_or_escape_at_send_time(cli, tmp_path):
    folder = _rules(tmp_path / "rules", BAD)
    result = cli("check", "--rules", str(folder))
    assert result.returncode == 1, result.stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith("automations.yaml:")]
    expect = {
        7: "has no attribute 'nmae'",
        10: "No filter named 'mony'",
        13: "which the sandbox forbids",
        16: "'__class__', which the sandbox forbids",
        19: "loops over more than",
        22: "has no subscription",
        25: "more than 262,144 items",
    }
    found = {int(line.split(":")[1]): line for line in lines}
    assert sorted(found) == sorted(expect), result.stderr
    for line, text in expect.items():
        assert text in found[line], found[line]
    assert "automation 'fine'" not in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("template", [
    "{{ 'x' * 10000000 }}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{% for i in range(100000) %}{{ contact.name }}{{ contact.name }}{{ contact.name }}{% endfor %}",
    "{{ contact.name|center(100000000) }}",
    "{{ 10 ** 10000000 }}",
])
@pytest.mark.timeout(120)  # a hang fails here; the limits themselves answer within MAX_RENDER_S
def test_rendering_is_bounded_in_time_and_size(template):
    render = make_renderer({"contact": {"name": "Acme Corporation"}})
    with pytest.raises(PermanentFailure, match="more than|larger than|too large|longer than"):
        render(template)


@pytest.mark.slow
def test_a_message_growing_with_the_data_past_the_limit_makes_the_delivery_dead_not_evaluate_hang(
        cli, tmp_path, httpserver):
    """The template passes `check` (the sample renders 200 KB) but renders ~4 MB for this
    contact's name: embedded `evaluate` returns, the delivery is dead with the reason."""
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    sb = Sandbox(api_key="sk_test_sandbox", start=START)
    price = sb.create_price(sb.create_product("Pro")["id"], "usd", unit_amount=15000, interval="month")
    customer = sb.create_customer(name="A" * 80, metadata={"account_id": "acme"})
    sb.create_subscription(customer["id"], [{"price": price["id"], "quantity": 1}])
    folder = _rules(tmp_path / "rules", f"""automations:
  - name: big
    on: renewal_due
    within: 40 days
    do:
      - webhook: {{url: "{httpserver.url_for('/hook')}"}}
      - slack: {{webhook_url: "{httpserver.url_for('/hook')}", text: "{{{{ contact.name * 50000 }}}}"}}
""")
    db_url = f"sqlite:///{tmp_path / 'lc.db'}"
    with sb:
        env = {"STRIPE_API_KEY": sb.api_key, "STRIPE_API_BASE": sb.url, "RULES_DIR": str(folder),
               "DATABASE_URL": db_url}
        assert cli("check", "--rules", str(folder), env=env).returncode == 0
        assert cli("sync", "--full", env=env).returncode == 0
        result = cli("evaluate", "--now", (START + timedelta(days=5)).isoformat(), env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    store = open_store(db_url)
    with store.session() as s:
        rows = {r.handler: r for r in s.scalars(select(Delivery))}
    assert rows["webhook"].state == "delivered"
    assert rows["slack"].state == "dead" and f"more than {MAX_OUTPUT_CHARS:,}" in rows["slack"].last_error
