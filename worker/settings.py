"""Settings: read once from the environment (and `.env`) into a typed object.

A bad value fails loudly with the variable's name and what it expects; secrets are kept as
`SecretStr` so they never appear in a `repr`, a log line or an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from worker.errors import ConfigError
from worker.urls import BadUrl, check_service_url, url_secrets

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
    # Months of MRR and stage history rebuilt from Stripe's invoices at the first full sync
    # (and on `sync --history`); 0 turns it off (the report then starts from an opening balance).
    history_months: int = Field(default=24, ge=0, le=120)

    # Processes.
    worker_threads: int = Field(default=4, ge=1, le=64)
    # How long an idle `worker` process waits between two Redis polls of a queue (dramatiq's
    # worker timeout, ms): 6 queues x 2 processes polled once a second are ~40 CPU-s per idle
    # hour; each message may wait up to this long before a worker takes it (a webhook's change
    # crosses three queues). 5000 costs ~10 CPU-s/h where freshness within seconds matters less.
    worker_poll_ms: int = Field(default=1000, ge=100, le=30_000)
    web_host: str = "127.0.0.1"
    web_port: int | None = Field(default=None, ge=1, le=65535)
    # The PaaS convention: when PORT is set, the public listener binds it (on every interface
    # unless WEB_HOST says otherwise), whatever WEB_PORT says.
    port: int | None = Field(default=None, ge=1, le=65535)
    leader_ttl_ms: int = Field(default=10_000, ge=200)

    # Health (/healthz): a heartbeat older than this is stale; the last successful sync may be
    # this old before health degrades (and twice that before it is unhealthy); a process that
    # never synced is unhealthy once this start-up grace has passed.
    health_heartbeat_stale_s: float = Field(default=120.0, gt=0)
    health_sync_stale_s: float = Field(default=900.0, gt=0)
    health_startup_grace_s: float = Field(default=600.0, ge=0)
    health_evaluate_stale_s: float = Field(default=3 * 3600.0, gt=0)

    # Delivery (outbox): a failing delivery retries with capped exponential backoff and jitter
    # until its time budget (counted from when it was created) is spent, then it is dead; an
    # optional attempt cap on top. How long a worker holds a claimed delivery, and after how
    # long a queued-but-unprocessed one is re-enqueued.
    delivery_retry_budget_s: float = Field(default=24 * 3600.0, gt=0, le=30 * 86400)
    delivery_max_attempts: int | None = Field(default=None, ge=1, le=10_000)

    # The ops console (worker/console; docs/console.md): its own listener, behind a login.
    console_host: str = "127.0.0.1"
    console_port: int | None = Field(default=None, ge=1, le=65535)  # `web` uses 8001 when unset
    console_users: SecretStr | None = None  # "name:argon2-hash" entries, ";" or whitespace apart
    console_secret: SecretStr | None = None  # signs session cookies; random per process when unset
    console_api_tokens: SecretStr | None = None  # "[name:]token" entries, "," or whitespace apart
    metrics_token: SecretStr | None = None  # Bearer token Prometheus sends for /metrics
    console_proxy_user_header: str | None = None  # e.g. X-Forwarded-User; off by default
    console_trusted_proxies: str = "127.0.0.1,::1"  # peers whose proxy user header is believed
    console_secure_cookie: bool = False  # set the cookie's Secure flag (console behind HTTPS)
    delivery_backoff_base_s: float = Field(default=10.0, gt=0, le=86400)
    delivery_backoff_max_s: float = Field(default=3600.0, gt=0)
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

    @field_validator("stripe_webhook_secret")
    @classmethod
    def _secret_not_blank(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("STRIPE_WEBHOOK_SECRET is set but empty, which would accept webhooks signed by anyone: set it to the "
                             "endpoint's signing secret (whsec_…) or remove the variable to turn the receiver off")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr) -> SecretStr:
        return _checked_url(value, "DATABASE_URL", ("postgresql", "postgres", "sqlite"),
                            "postgresql+psycopg://user:password@host:5432/db or sqlite:///lifecycle.db")

    @field_validator("redis_url", "smtp_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        """`REDIS_URL=` / `SMTP_URL=` (a blank .env line): not configured, as when unset."""
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        return None if isinstance(raw, str) and not raw.strip() else value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        return _checked_url(value, "REDIS_URL", ("redis", "rediss", "unix"), "redis://localhost:6379/0")

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: SecretStr | None) -> SecretStr | None:
        return _checked_url(value, "SMTP_URL", ("smtp",), "smtps://user:password@mail.example.com")

    @field_validator("log_format", "log_level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _paas_port(self) -> Settings:
        if self.port is not None:
            self.web_port = self.port
            if "web_host" not in self.model_fields_set:
                self.web_host = "0.0.0.0"  # noqa: S104 - a PaaS routes to the container's interface
        return self

    def secrets(self) -> list[str]:
        """The secret values to mask wherever they might appear in output."""
        found = [self.stripe_api_key, self.stripe_webhook_secret, self.smtp_url, self.console_secret,
                 self.metrics_token]
        values = [s.get_secret_value() for s in found if s is not None and s.get_secret_value()]
        for url in (self.database_url, self.redis_url, self.smtp_url):
            values += url_secrets(url.get_secret_value() if url is not None else None)
        if self.console_api_tokens is not None:
            values += [entry.rpartition(":")[2] for entry in
                       self.console_api_tokens.get_secret_value().replace(",", " ").split()]
        return values

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


def _checked_url(value: SecretStr | None, name: str, schemes: tuple[str, ...], example: str) -> SecretStr | None:
    """`value` when it is a well-formed URL; a ValueError that never quotes it otherwise."""
    if value is None:
        return None
    if not value.get_secret_value().strip():
        raise ValueError(f"{name} is set but empty: set it to a URL such as {example}, or remove it")
    try:
        check_service_url(name, value.get_secret_value().strip(), schemes, example)
    except BadUrl as exc:
        raise ValueError(str(exc)) from None
    return SecretStr(value.get_secret_value().strip())


def _describe(err: dict) -> str:
    """One pydantic error as `NAME[=value]: message`; values of secret or URL settings are never shown."""
    name = str(err["loc"][0]).upper() if err["loc"] else "?"
    hidden = any(word in name for word in ("SECRET", "KEY", "URL", "PASSWORD", "TOKEN"))
    shown = "" if hidden else f"={str(err.get('input'))[:100]!r}"
    message = str(err["ctx"]["error"]) if err.get("type") == "value_error" and "ctx" in err else err["msg"]
    if message.startswith(name + " "):
        return message
    return f"{name}{shown}: {message}"


def load_settings(**overrides: object) -> Settings:
    """Read the settings once; turn pydantic's errors into one ConfigError naming each variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = [_describe(err) for err in exc.errors()]
        raise ConfigError(
            "Invalid setting: " + "; ".join(lines) + ".",
            fix="Fix the environment variable (or the line in .env) and run again.",
        ) from None
