"""Logging: structlog to stderr, JSON or console, with a redaction pass over every line.

Redaction runs on the *rendered* line, so a secret cannot slip through a nested value, an
exception message or a third-party library's log record. Known key shapes (`sk_…`, `rk_…`,
`whsec_…`), passwords in URLs and every registered secret value are masked.

When the environment variable `LIFECYCLE_LOG_TEE` names a file, every rendered (redacted) line
is also appended there as `PID<TAB>line` with one `write` per line, so several processes can
share the file. The test suite sets it to scan every log line it produced for secrets.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable, Iterable
from typing import Any

import structlog

MASK = "***"
TEE_ENV = "LIFECYCLE_LOG_TEE"
# Every repetition is bounded, so each start position costs a bounded amount of work and a
# line is redacted in linear time (an unbounded `[a-z]*://` retried at each of 40,000
# positions was quadratic: 17 s for one line).
_KEY_PATTERN = re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]+|\bwhsec_[A-Za-z0-9+/=]+")
_URL_PASSWORD = re.compile(
    r"(?P<head>\b[a-z][a-z0-9+.-]{0,30}://[^:/@\s\"']{0,256}:)(?P<pw>[^\s\"'<>]{1,512})(?=@)", re.I)
MAX_LINE = 64_000
_registered: set[str] = set()


def register_secrets(values: Iterable[str]) -> None:
    """Add values (tokens, passwords, `${ENV}` values used by rules) to the redaction set."""
    for value in values:
        if value and len(value) >= 4:
            _registered.add(value)


def redact(text: str) -> str:
    """Mask every known secret shape and registered secret value in `text`."""
    for secret in sorted(_registered, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    text = _KEY_PATTERN.sub(MASK, text)
    return _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)


def bounded(line: str, limit: int = MAX_LINE) -> str:
    """`line` cut to `limit` characters (after redaction, so no half secret escapes the mask)."""
    return line if len(line) <= limit else f"{line[:limit]}… ({len(line) - limit} more characters)"


def _redacting(renderer: Callable[..., str]) -> Callable[..., str]:
    def render(logger: Any, name: str, event_dict: dict) -> str:
        return bounded(redact(renderer(logger, name, event_dict)))

    return render


def _formatter(renderer: Callable[..., str], shared: list) -> logging.Formatter:
    return structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _redacting(renderer)],
        foreign_pre_chain=shared,
    )


class TeeHandler(logging.Handler):
    """Appends each formatted record to a file as `PID<TAB>line`, one O_APPEND write each."""

    def __init__(self, path: str):
        super().__init__()
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def emit(self, record: logging.LogRecord) -> None:
        if self._fd < 0:
            return
        try:
            line = self.format(record).replace("\n", "\\n")
            os.write(self._fd, f"{os.getpid()}\t{line}\n".encode(errors="replace"))
        except Exception:  # noqa: BLE001 - a tee never breaks the program it watches
            self.handleError(record)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        super().close()


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at emit time, so a swapped-and-closed stderr (a test
    runner, a CLI invoked in-process) never leaves logging writing to a dead stream."""

    @property
    def stream(self):  # noqa: ANN201
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:  # noqa: ANN001
        pass


def _with_message(_logger: Any, _name: str, event_dict: dict) -> dict:
    """Every line carries `message` beside `event` (the field Datadog and Loki read as the text)."""
    if "message" not in event_dict:
        event_dict["message"] = str(event_dict.get("event", ""))
    return event_dict


def configure_logging(fmt: str | None = None, level: str = "info", stream=None) -> None:
    """Configure structlog and the stdlib root logger (dramatiq, APScheduler, alembic) alike."""
    explicit = stream is not None
    stream = stream or sys.stderr
    if fmt is None:
        fmt = "console" if stream.isatty() else "json"
    renderer = (
        structlog.dev.ConsoleRenderer(colors=stream.isatty())
        if fmt == "console"
        else structlog.processors.JSONRenderer(sort_keys=False)
    )
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        _with_message,
    ]
    formatter = _formatter(renderer, shared)
    handler = logging.StreamHandler(stream) if explicit else _CurrentStderr()
    handler.setFormatter(formatter)
    handlers: list[logging.Handler] = [handler]
    if os.environ.get(TEE_ENV):
        tee = TeeHandler(os.environ[TEE_ENV])
        tee.setFormatter(_formatter(structlog.processors.JSONRenderer(sort_keys=False), shared))
        handlers.append(tee)
    root = logging.getLogger()
    replaced, root.handlers[:] = list(root.handlers), handlers
    for old in replaced:
        if isinstance(old, TeeHandler):
            old.close()
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "stripe", "alembic", "apscheduler"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def new_unit_of_work(**context: Any) -> None:
    """Start a unit of work (a message, a command): clear leaked context, bind the new one."""
    structlog.contextvars.clear_contextvars()
    if context:
        structlog.contextvars.bind_contextvars(**context)


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
