"""Settings: read once from the environment (and `.env`) into a typed object.

A bad value fails loudly with the variable's name and what it expects; secrets are kept as
`SecretStr` so they never appear in a `repr`, a log line or an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from worker.errors import ConfigError

DEFAULT_STRIPE_API_BASE = "https://api.stripe.com"


class Settings(BaseSettings):
    """Every setting of PRODUCT.md §2, plus the scheduling intervals and process knobs."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    stripe_api_key: SecretStr | None = None
    stripe_api_base: str = DEFAULT_STRIPE_API_BASE
    stripe_webhook_secret: SecretStr | None = None
    stripe_max_rps: float = Field(default=20.0, gt=0, le=1000)
    # Stripe's own limit per endpoint (requests/s), which holds whatever STRIPE_MAX_RPS allows.
    stripe_endpoint_rps: float = Field(default=25.0, gt=0, le=1000)
    database_url: SecretStr = SecretStr("sqlite:///lifecycle.db")
    redis_url: SecretStr | None = None
    redis_namespace: str = Field(default="stripe-lifecycle", pattern=r"^[A-Za-z0-9_.:-]+$")
    rules_dir: Path = Path("./rules")
    log_format: Literal["json", "console"] | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    smtp_url: SecretStr | None = None

    # Scheduling (seconds). Jobs only enqueue messages; the worker does the work.
    sync_every: int = Field(default=60, ge=1)
    evaluate_every: int = Field(default=900, ge=1)
    measure_every: int = Field(default=3600, ge=1)
    reconcile_every: int = Field(default=86400, ge=60)
    # Evaluation recomputes only contacts whose inputs moved; everyone at least this often.
    recompute_full_every: int = Field(default=7 * 86400, ge=3600)
    redeliver_every: int = Field(default=60, ge=1)

    # Processes.
    worker_threads: int = Field(default=4, ge=1, le=64)
    web_host: str = "127.0.0.1"
    web_port: int | None = Field(default=None, ge=1, le=65535)
    leader_ttl_ms: int = Field(default=10_000, ge=200)

    # Delivery (outbox): attempts before a delivery is dead, backoff base, how long a worker
    # holds a claimed delivery, and after how long a queued-but-unprocessed one is re-enqueued.
    delivery_max_attempts: int = Field(default=8, ge=1, le=100)
    delivery_backoff_base_s: float = Field(default=10.0, gt=0, le=86400)
    delivery_backoff_max_s: float = Field(default=6 * 3600.0, gt=0)
    delivery_lease_s: float = Field(default=120.0, gt=0, le=86400)
    delivery_stale_s: float = Field(default=300.0, gt=0)
    # Delivery ids per queue message (`deliver_batch`): one claim, one result statement and
    # one message per batch instead of per delivery.
    delivery_batch_size: int = Field(default=50, ge=1, le=1000)

    @field_validator("stripe_api_base")
    @classmethod
    def _base_is_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("stripe_api_key")
    @classmethod
    def _key_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("sk_", "rk_")):
            raise ValueError("expected a secret key (sk_…) or a restricted key (rk_…)")
        return value

    @field_validator("log_format", "log_level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    def secrets(self) -> list[str]:
        """The secret values to mask wherever they might appear in output."""
        found = [self.stripe_api_key, self.stripe_webhook_secret, self.smtp_url]
        return [s.get_secret_value() for s in found if s is not None and s.get_secret_value()]

    def require_stripe_key(self) -> str:
        """The Stripe key, or a ConfigError naming STRIPE_API_KEY."""
        if self.stripe_api_key is None:
            raise ConfigError(
                "STRIPE_API_KEY is not set.",
                fix="Set it to a secret key (sk_…) or a restricted key (rk_…) from the Stripe "
                "dashboard, in the environment or in .env.",
            )
        return self.stripe_api_key.get_secret_value()

    @property
    def embedded(self) -> bool:
        """True when no Redis is configured: in-process broker, one process does it all."""
        return self.redis_url is None


def load_settings(**overrides: object) -> Settings:
    """Read the settings once; turn pydantic's errors into one ConfigError naming each variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = str(err["loc"][0]).upper() if err["loc"] else "?"
            value = err.get("input")
            shown = "" if "secret" in name.lower() or "key" in name.lower() else f"={value!r}"
            lines.append(f"{name}{shown}: {err['msg']}")
        raise ConfigError(
            "Invalid setting: " + "; ".join(lines) + ".",
            fix="Fix the environment variable (or the line in .env) and run again.",
        ) from None
