"""A `${VAR}` set only in `.env` works for every rules consumer, not only `check` (issue 12):
`sync`, `accounts`, `report` and the scheduled jobs of `run` read the rules through the one
loader, whose environment is the process environment over `.env` — real CLI subprocesses."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import clean_env

pytestmark = pytest.mark.slow
SHIPPED = Path(__file__).resolve().parents[2] / "rules"
SECRET_VAR = "DOTENV_ONLY_HOOK_SECRET"
AUTOMATION = f"""
automations:
  - name: renewal-hook
    on: renewal_due
    within: 30 days
    do:
      - webhook: {{url: "http://127.0.0.1:9/hook", secret: "${{{SECRET_VAR}}}"}}
"""
JOBS = ("synced", "evaluated", "measured")


@pytest.fixture
def workdir(tmp_path):
    """A folder with rules that need ${DOTENV_ONLY_HOOK_SECRET}, set in its `.env` only."""
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(SHIPPED / "stages.yaml", rules / "stages.yaml")
    stripe_yaml = (SHIPPED / "stripe.yaml").read_text()  # the sandbox generates JPY customers too
    (rules / "stripe.yaml").write_text(stripe_yaml.replace("gbp: 1.27}", "gbp: 1.27, jpy: 0.0067}"))
    (rules / "automations.yaml").write_text(AUTOMATION)
    (tmp_path / ".env").write_text(f"{SECRET_VAR}=whsec_from_dotenv_only_1234\n")
    return tmp_path


@pytest.fixture
def sandbox():
    from stripe_sandbox import Sandbox, generate_account

    sb = Sandbox(api_key="sk_test_dotenv", start=datetime(2026, 11, 1, tzinfo=UTC), seed=5)
    generate_account(sb, customers=15, seed=5)
    with sb:
        yield sb


def _env(workdir: Path, sandbox, **extra: str) -> dict[str, str]:
    return clean_env(STRIPE_API_KEY=sandbox.api_key, STRIPE_API_BASE=sandbox.url, STRIPE_MAX_RPS="500",
                     DATABASE_URL=f"sqlite:///{workdir / 'lc.db'}", RULES_DIR="rules", **extra)


def _cli(workdir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "worker.cli.main", *args], env=env, cwd=workdir,
                          capture_output=True, text=True, timeout=120, check=False)


def test_commands_read_a_variable_set_only_in_dotenv(workdir, sandbox):
    env = _env(workdir, sandbox)
    assert SECRET_VAR not in env
    for args in (("check",), ("sync", "--full", "--json"), ("accounts", "--json"), ("report", "--json")):
        result = _cli(workdir, env, *args)
        assert result.returncode == 0, f"{args}: {result.stdout}{result.stderr}"
        assert "is not set" not in result.stderr
    accounts = json.loads(_cli(workdir, env, "accounts", "--json").stdout)
    assert len(accounts) >= 10  # the synced contacts, computed with those rules


def test_scheduled_jobs_read_a_variable_set_only_in_dotenv(workdir, sandbox):
    env = _env(workdir, sandbox, SYNC_EVERY="1", EVALUATE_EVERY="1", MEASURE_EVERY="1", REDELIVER_EVERY="1")
    proc = subprocess.Popen([sys.executable, "-m", "worker.cli.main", "run"], env=env, cwd=workdir,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    try:
        seen: set[str] = set()
        deadline = time.monotonic() + 90
        while not set(JOBS) <= seen and time.monotonic() < deadline:
            line = proc.stderr.readline()
            assert line, f"run exited early: {''.join(lines)}"
            lines.append(line)
            if line.startswith("{"):
                entry = json.loads(line)
                if entry["event"] != "evaluated" or entry["contacts"] > 0:  # evaluated the synced contacts
                    seen.add(entry["event"])
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=30)
        lines.append(rest)
    finally:
        if proc.poll() is None:
            proc.kill()
    log = "".join(lines)
    assert set(JOBS) <= seen, f"not every scheduled job ran: {sorted(seen)}\n{log[-3000:]}"
    assert "is not set" not in log and '"job_failed"' not in log, log[-3000:]
