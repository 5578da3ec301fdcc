"""The Typer application and the bootstrap every command shares.

`bootstrap()` reads the settings once, configures logging (stderr) and registers secrets for
redaction; `command_runtime(settings)` builds the command's `Runtime`. Only light modules are
imported here and at the top of the command modules: each command imports what it needs when
it runs, so `stripe-lifecycle --help` starts fast (no SQLAlchemy, stripe, durable_rules …).
`@guarded` turns a LifecycleError into plain sentences and its exit code; an unexpected
exception becomes one sentence too (its traceback only at LOG_LEVEL=debug).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console

from worker.core.snapshot import parse_time
from worker.errors import ConfigError, LifecycleError, RuleFileError

if TYPE_CHECKING:
    from worker.runtime.runtime import Runtime
    from worker.settings import Settings

app = typer.Typer(
    name="stripe-lifecycle",
    help="Self-hosted Stripe lifecycle automation: sync, MRR, stages, automations, outcomes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
contacts_app = typer.Typer(help="The company's own contacts.", no_args_is_help=True)
app.add_typer(contacts_app, name="contacts")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])


def bootstrap(**overrides: Any) -> Settings:
    """Settings + logging for one command invocation."""
    from worker.logs import configure_logging, new_unit_of_work, register_secrets
    from worker.settings import load_settings

    settings = load_settings(**overrides)
    configure_logging(settings.log_format, settings.log_level)
    register_secrets(settings.secrets())
    new_unit_of_work()
    return settings


def command_runtime(settings: Settings) -> Runtime:
    """The command's runtime: an inline queue when embedded (the work runs in this command),
    the dramatiq actors' queue on Redis (what it enqueues goes to the workers)."""
    from worker.runtime.queue import DramatiqQueue, InlineQueue, Queue
    from worker.runtime.runtime import Runtime

    queue: Queue
    if settings.embedded:
        queue = InlineQueue()
    else:
        from worker import tasks

        queue = DramatiqQueue(tasks.BY_NAME)
    return Runtime(settings, queue=queue)


def parse_now(value: str | None) -> datetime:
    """`--now`: ISO-8601, without an offset read as UTC; default the wall clock (an entry point)."""
    if value is None:
        return datetime.now(timezone.utc)
    try:
        return parse_time(value)
    except ValueError:
        raise ConfigError(f"--now {value!r} is not an ISO-8601 time.",
                          fix="Use e.g. --now 2026-12-01T09:00:00Z.") from None


def fail(exc: LifecycleError) -> None:
    """Print a LifecycleError as plain sentences on stderr and exit with its code."""
    from worker.logs import redact

    if isinstance(exc, RuleFileError):
        for line in exc.problems:
            err.print(redact(line), markup=False, highlight=False)
    err.print(f"Error: {redact(str(exc))}", markup=False, highlight=False)
    raise typer.Exit(exc.exit_code)


def guarded(func: F) -> F:
    """Wrap a command so no traceback reaches the user."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except LifecycleError as exc:
            fail(exc)
        except KeyboardInterrupt:
            err.print("Interrupted.")
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the last line of defence
            from worker.logs import get_logger, redact

            debug = "--debug" in sys.argv
            get_logger("cli").error("unexpected_error", exc_info=debug, error=redact(repr(exc)))
            err.print(
                f"Error: unexpected {type(exc).__name__}: {redact(str(exc))}. This is a bug in "
                "stripe-lifecycle; run with LOG_LEVEL=debug for details and report it.",
                markup=False, highlight=False,
            )
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def write_output(path: Path, text: str, *, option: str) -> None:
    """Write a command's output file; an unwritable path is a plain error naming `option`."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"Cannot write the report to {path} ({exc.strerror}).",
                          fix=f"Pick a writable path for {option}.") from None
