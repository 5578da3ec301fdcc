"""No secret in any line the suite produced: every log line of the test process and of every
subprocess (through the `LIFECYCLE_LOG_TEE` file, see `plugin.py`) and everything the `cli`
fixture's commands printed is searched for the secrets the tests handed to the product, for
unmasked key shapes (`sk_test_…`, `rk_…`, `whsec_…`) and for passwords in URLs.

The scan test runs last in the session. The provocation tests before it make sure there is
something to scan even when this module runs alone, and they push secrets exactly where a leak
would happen: a rejected key, a restricted key, passwords in unreachable database and Redis
URLs, and failing webhook deliveries whose URL and signing secret come from the environment.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from stripe_sandbox import Sandbox
from tests.reliability.plugin import (
    TEE,
    known_secrets,
    masked,
    note_secrets,
    scan,
    tee_lines,
)
from worker.logs import get_logger

pytestmark = pytest.mark.reliability
SHIPPED = Path(__file__).resolve().parents[2] / "rules"
KEY = "sk_test_51ScanProvocationKey0a1b2c3d"
RESTRICTED = "rk_test_51ScanRestrictedKey9z8y7x"
HOOK_SECRET = "whsec_scanProvocationHookSecret42"
HOOK_TOKEN = "tok-scan-provocation-7e3f9a"
SMTP_PASSWORD = "smtp-scan-pa55-91c2"
DB_PASSWORD = "db-scan-pw-4d5e6f"
REDIS_PASSWORD = "redis-scan-pw-8a9b"
CLOSED_PORT = "9"  # discard: nothing listens on it here


def _automations() -> str:
    hook = ('{url: "http://127.0.0.1:' + CLOSED_PORT + '/hooks/${HOOK_TOKEN}", secret: "${HOOK_SECRET}"}')
    return f"""
automations:
  - name: renewal-provocation
    on: renewal_due
    within: 60 days
    do:
      - webhook: {hook}
"""


@pytest.fixture
def account():
    sb = Sandbox(api_key=KEY, start=datetime(2026, 11, 1, tzinfo=UTC))
    sb.restricted_keys[RESTRICTED] = {"customers:read"}
    product = sb.create_product("Pro")
    price = sb.create_price(product["id"], "usd", unit_amount=9900, interval="month", lookup_key="pro")
    for name in ("acme", "bolt"):
        customer = sb.create_customer(name=name.title(), metadata={"account_id": name, "note": HOOK_TOKEN})
        sb.create_subscription(customer["id"], [{"price": price["id"], "quantity": 1}])
    with sb:
        yield sb


def test_sync_and_evaluate_with_failing_signed_deliveries_print_no_secret(cli, account, tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(SHIPPED, rules)
    (rules / "automations.yaml").write_text(_automations())
    env = {"STRIPE_API_KEY": KEY, "STRIPE_API_BASE": account.url, "RULES_DIR": str(rules),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'lc.db'}", "HOOK_SECRET": HOOK_SECRET, "HOOK_TOKEN": HOOK_TOKEN,
           "SMTP_URL": f"smtp://ops:{SMTP_PASSWORD}@127.0.0.1:{CLOSED_PORT}", "LOG_LEVEL": "debug"}
    synced = cli("sync", "--full", env=env)
    assert synced.returncode == 0, synced.stderr
    evaluated = cli("evaluate", "--now", "2026-11-20T00:00:00Z", "--json", env=env)
    assert evaluated.returncode == 0, evaluated.stderr
    assert '"renewal-provocation"' in evaluated.stdout  # it fired, so a delivery was attempted and failed


def test_rejected_and_restricted_keys_print_no_secret(cli, account):
    wrong = cli("connect", env={"STRIPE_API_KEY": KEY + "WRONG", "STRIPE_API_BASE": account.url})
    assert wrong.returncode == 2 and "rejected" in (wrong.stdout + wrong.stderr)
    restricted = cli("sync", env={"STRIPE_API_KEY": RESTRICTED, "STRIPE_API_BASE": account.url,
                                  "DATABASE_URL": "sqlite:///lc.db", "RULES_DIR": str(SHIPPED)})
    assert restricted.returncode != 0 and "permission" in restricted.stderr.lower(), restricted.stderr


def test_unreachable_database_and_redis_urls_print_no_password(cli):
    db = cli("sync", env={"STRIPE_API_KEY": KEY, "DATABASE_URL":
                          f"postgresql+psycopg://lc:{DB_PASSWORD}@127.0.0.1:{CLOSED_PORT}/lc",
                          "RULES_DIR": str(SHIPPED)})
    assert db.returncode == 2 and "database" in db.stderr.lower(), db.stderr
    broker = cli("scheduler", env={"REDIS_URL": f"redis://:{REDIS_PASSWORD}@127.0.0.1:{CLOSED_PORT}/0",
                                   "DATABASE_URL": "sqlite:///lc.db"}, timeout=60)
    assert broker.returncode == 2, broker.stderr


def test_in_process_lines_are_redacted_and_teed():
    get_logger("reliability").warning("provocation", stripe_key=KEY, nested={"secret": HOOK_SECRET})
    assert any("provocation" in line for line in tee_lines())


def test_the_scan_finds_a_planted_secret_in_every_shape():
    note_secrets(["plain-planted-secret-1234"])
    planted = ['1\t{"event": "x", "value": "plain-planted-secret-1234"}', f"cli\tError: bad key {KEY}",
               "2\tconnecting to postgresql://lc:hunter2pw@db/lc", f"3\tsigned with {HOOK_SECRET}",
               '4\t{"event": "ok", "key": "***", "url": "postgresql://lc:***@db/lc"}']
    assert scan(planted, TEE.secrets) == planted[:4]
    receiver = '5\t{"event": "POST /x?token=plain-planted-secret-1234", "logger": "werkzeug"}'
    assert scan([receiver], TEE.secrets) == []  # the test's HTTP receiver may see it; it is not the product
    assert "hunter2pw" not in masked(planted[2], TEE.secrets) and KEY not in masked(planted[1], TEE.secrets)


def test_no_line_the_suite_produced_holds_a_secret():
    """Runs last (plugin.RUNS_LAST): everything logged or printed so far, by every process."""
    lines = tee_lines()
    own = str(os.getpid())
    sources = [line.partition("\t")[0] for line in lines]
    subprocess_pids = {s for s in sources if s.isdigit() and s != own}
    assert len(lines) >= 20, f"only {len(lines)} lines were captured: the tee is not working"
    assert sources.count(own) >= 1, "no in-process log line was captured"
    assert len(subprocess_pids) >= 2, "no log line of a subprocess was captured"
    assert sources.count("cli") >= 3, "nothing a command printed was captured"
    for secret in (KEY, HOOK_SECRET, HOOK_TOKEN, SMTP_PASSWORD, DB_PASSWORD, REDIS_PASSWORD):
        assert secret in TEE.secrets, "the provocations' secrets must be registered"
    secrets = known_secrets()
    hits = scan(lines, secrets)
    assert hits == [], f"{len(hits)} of {len(lines)} lines hold a secret, e.g. {masked(hits[0], secrets)!r}"
