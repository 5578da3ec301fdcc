"""Items 9, 10, 11 of issue 15, through the real command: an empty STRIPE_WEBHOOK_SECRET,
malformed DATABASE_URL / REDIS_URL / SMTP_URL are configuration errors (exit 2, one plain
sentence, no traceback) that never print any part of a password; `check` validates SMTP_URL
when an email action exists; the public listener honours PORT and logs the address it bound."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import clean_env
from tests.reliability.plugin import note_secrets
from worker.logs import redact

SHIPPED = Path(__file__).resolve().parents[2] / "rules"
PASSWORD = "Pw9secretZ"  # what must never be printed, whole or in part


def _assert_config_error(result, *, names: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert names in result.stderr and "Traceback" not in result.stderr and "bug" not in result.stderr
    for output in (result.stdout, result.stderr):
        for piece in (PASSWORD, PASSWORD[:5], PASSWORD[-5:], "ss@h"):
            assert piece not in output, output


def test_an_empty_webhook_secret_is_a_configuration_error(cli):
    for blank in ("", "  "):
        result = cli("check", env={"RULES_DIR": str(SHIPPED), "STRIPE_WEBHOOK_SECRET": blank})
        _assert_config_error(result, names="STRIPE_WEBHOOK_SECRET is set but empty")


@pytest.mark.parametrize("url", [
    f"postgresql+psycopg//user:{PASSWORD}@db.example/x",          # typo'd scheme: no "://"
    f"postgresql+psycopg://user:{PASSWORD[:5]}@ss@h{PASSWORD[5:]}@db.example/x",  # unencoded @
    f"postgresql://user:{PASSWORD}@db.example:54x32/x",           # bad port
    f"postgresql://user:{PASSWORD}@db.example:99999/x",           # port out of range
    f"mysql://user:{PASSWORD}@db.example/x",                      # unsupported scheme
])
def test_a_malformed_database_url_never_prints_its_password(cli, url):
    note_secrets([PASSWORD])
    result = cli("check", env={"RULES_DIR": str(SHIPPED), "DATABASE_URL": url})
    _assert_config_error(result, names="DATABASE_URL")


@pytest.mark.parametrize("url", [
    f"postgresql+psycopg//user:{PASSWORD}@db.example/x",
    f"postgresql+psycopg://user:{PASSWORD[:5]}@ss@h{PASSWORD[5:]}@db.example/x",
    f"postgresql://user:{PASSWORD}@db.example:54x32/x",
    f"redis://:{PASSWORD}@127.0.0.1:6x79/0",
])
def test_opening_a_store_or_broker_with_a_malformed_url_never_prints_its_password(url):
    from worker.errors import ConfigError
    from worker.runtime.broker import check_redis
    from worker.store.db import open_store

    with pytest.raises(ConfigError) as raised:
        (check_redis if url.startswith("redis") else open_store)(url)
    message = redact(str(raised.value))
    assert "URL" in message
    for piece in (PASSWORD, PASSWORD[:5], PASSWORD[-5:], "ss@h"):
        assert piece not in str(raised.value) and piece not in message


@pytest.mark.parametrize("url", [
    "localhost",                                    # no ':' at all
    f"redis://:{PASSWORD}@127.0.0.1:6x79/0",        # bad port
    f"redis://:{PASSWORD}@127.0.0.1:70000/0",       # port out of range
    f"redis://u:{PASSWORD[:5]}@{PASSWORD[5:]}@127.0.0.1:6379/0",
])
def test_a_malformed_redis_url_is_a_configuration_error(cli, url):
    note_secrets([PASSWORD])
    result = cli("check", env={"RULES_DIR": str(SHIPPED), "REDIS_URL": url})
    _assert_config_error(result, names="REDIS_URL")


def test_the_redaction_masks_every_piece_of_a_malformed_url_once_settings_are_loaded():
    from worker.logs import register_secrets
    from worker.settings import load_settings

    settings = load_settings(database_url=f"postgresql://user:{PASSWORD}@db.example/x",
                             smtp_url=f"smtps://u:{PASSWORD}x@mail.example.com")
    register_secrets(settings.secrets())
    assert PASSWORD not in redact(f"oops {PASSWORD} and {PASSWORD}x")


def _email_rules(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir()
    for name in ("stripe.yaml", "stages.yaml"):
        (rules / name).write_text((SHIPPED / name).read_text())
    (rules / "automations.yaml").write_text(
        "automations:\n  - name: welcome\n    on: stage_changed\n    to: customer\n    do:\n"
        "      - email: {to: '{{ contact.email }}', subject: Hi, text: Hello}\n")
    return rules


def test_check_requires_a_valid_smtp_url_when_an_email_action_exists(cli, tmp_path):
    rules = _email_rules(tmp_path)
    missing = cli("check", env={"RULES_DIR": str(rules)})
    assert missing.returncode == 2 and "SMTP_URL is not set" in missing.stderr, missing.stderr
    assert "automations.yaml:" in missing.stderr
    bad = cli("check", env={"RULES_DIR": str(rules), "SMTP_URL": f"smtp://u:{PASSWORD}@mail.example.com:0x1"})
    _assert_config_error(bad, names="SMTP_URL")
    good = cli("check", env={"RULES_DIR": str(rules), "SMTP_URL": f"smtps://u:{PASSWORD}@mail.example.com"})
    assert good.returncode == 0, good.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.timeout(90)
def test_the_public_listener_honours_port_and_logs_the_address_it_bound(tmp_path):
    port = _free_port()
    env = clean_env(PORT=str(port), WEB_HOST="127.0.0.1", WEB_PORT=str(_free_port()), RULES_DIR=str(SHIPPED),
                    DATABASE_URL=f"sqlite:///{tmp_path / 'lc.db'}")
    proc = subprocess.Popen([sys.executable, "-m", "worker.cli.main", "web"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code in (200, 503):
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("the web process never answered on PORT")
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=20)
    assert f'"address": "http://127.0.0.1:{port}"' in stderr and "web_listening" in stderr, stderr[-2000:]
