"""How a handler fails (actions layer): a `PermanentFailure` (4xx, bad parameters) is not
retried, a `TransientFailure` (timeouts, 5xx, 429) is, honouring `retry_after` when the receiver
gave one. Its own module so the template renderer can raise them without importing the context.
"""

from __future__ import annotations

from typing import ClassVar


class ActionFailure(Exception):
    """Base of handler failures; `retryable` decides between retry and dead."""

    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, retry_after: float | None = None, status_code: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after
        self.status_code = status_code


class PermanentFailure(ActionFailure):
    retryable = False


class TransientFailure(ActionFailure):
    retryable = True
