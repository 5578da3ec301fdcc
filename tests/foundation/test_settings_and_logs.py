"""Settings fail loudly by variable name and hide secrets; log lines never carry a secret."""

from __future__ import annotations

import io
import json

import pytest

from worker.errors import ConfigError
from worker.logs import configure_logging, get_logger, new_unit_of_work, redact, register_secrets
from worker.settings import load_settings

KEY = "sk_test_51HsecretKEYvalue0123456789"


def test_bad_number_names_the_variable(monkeypatch):
    monkeypatch.setenv("STRIPE_MAX_RPS", "fast")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "STRIPE_MAX_RPS" in str(info.value) and "number" in str(info.value)


def test_bad_key_shape_names_the_variable_without_echoing_it(monkeypatch):
    monkeypatch.setenv("STRIPE_API_KEY", "pk_test_oops_secretish")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "STRIPE_API_KEY" in str(info.value)
    assert "pk_test_oops_secretish" not in str(info.value)


def test_secrets_never_appear_in_repr(monkeypatch):
    monkeypatch.setenv("STRIPE_API_KEY", KEY)
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:dbpassword9@h/db")
    settings = load_settings()
    assert KEY not in repr(settings) and "dbpassword9" not in repr(settings)
    assert settings.require_stripe_key() == KEY


def test_dotenv_file_is_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STRIPE_MAX_RPS", raising=False)
    (tmp_path / ".env").write_text("STRIPE_MAX_RPS=7\nRULES_DIR=/srv/rules\n")
    settings = load_settings()
    assert settings.stripe_max_rps == 7 and str(settings.rules_dir) == "/srv/rules"


def test_missing_key_is_a_config_error_naming_it():
    with pytest.raises(ConfigError, match="STRIPE_API_KEY"):
        load_settings(stripe_api_key=None).require_stripe_key()


@pytest.mark.parametrize("text, hidden", [
    (f"key={KEY}", KEY),
    ("rk_live_abcDEF123456 used", "rk_live_abcDEF123456"),
    ("whsec_Zm9vYmFyYmF6 arrived", "whsec_Zm9vYmFyYmF6"),
    ("postgresql://lifecycle:pa55word@db/x", "pa55word"),
])
def test_redaction_masks_known_secret_shapes(text, hidden):
    assert hidden not in redact(text)
    assert "***" in redact(text)


def _logged(fn) -> list[dict]:
    stream = io.StringIO()
    configure_logging("json", "info", stream=stream)
    fn()
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_logged_key_is_masked_wherever_it_appears():
    register_secrets(["hook-token-9f8e7d"])

    def emit() -> None:
        log = get_logger("t")
        log.info("calling", key=KEY, nested={"auth": f"Bearer {KEY}"}, token="hook-token-9f8e7d")
        try:
            raise ValueError(f"bad {KEY}")
        except ValueError:
            log.exception("failed")

    lines = _logged(emit)
    text = json.dumps(lines)
    assert KEY not in text and "hook-token-9f8e7d" not in text
    assert lines[0]["key"] == "***"


def test_context_is_cleared_at_each_unit_of_work():
    def emit() -> None:
        new_unit_of_work(delivery_id=1)
        get_logger("t").info("first")
        new_unit_of_work(contact="acme")
        get_logger("t").info("second")

    first, second = _logged(emit)
    assert first["delivery_id"] == 1
    assert "delivery_id" not in second and second["contact"] == "acme"


def test_stdlib_library_logs_are_redacted_too():
    import logging

    lines = _logged(lambda: logging.getLogger("dramatiq.x").warning("retrying with %s", KEY))
    assert KEY not in json.dumps(lines) and lines[0]["logger"] == "dramatiq.x"
