"""One error base class for everything the product reports to a person.

Each error says what failed, for which object, and how to fix it; `retryable` tells a
caller (an actor, a sync loop) whether trying again can help. The CLI turns these into one
or a few plain sentences and an exit code, never a traceback.
"""

from __future__ import annotations


class LifecycleError(Exception):
    """Base class: a failure with a plain-sentence message and a suggested fix."""

    exit_code = 1

    def __init__(self, message: str, *, fix: str | None = None, retryable: bool = False):
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.retryable = retryable

    def __str__(self) -> str:
        return f"{self.message} {self.fix}" if self.fix else self.message


class ConfigError(LifecycleError):
    """A setting is missing or invalid, or a configured service cannot be reached."""

    exit_code = 2


class NotBuiltYet(LifecycleError):
    """A command registered by the contract whose implementation has not landed yet."""

    exit_code = 2


class StripeError(LifecycleError):
    """Stripe answered with an error or could not be reached."""

    exit_code = 2


class RuleFileError(LifecycleError):
    """One or more rule files are invalid; `problems` holds `FILE:LINE: message` lines."""

    exit_code = 1

    def __init__(self, problems: list[str]):
        count = len(problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in the rule files.")
        self.problems = problems
