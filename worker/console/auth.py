"""Who may use the console: users (argon2 hashes), API tokens, the metrics token, throttling.

Pure of I/O: parsed from the settings once when the console app is built. Passwords are only
ever compared through argon2 (constant-time in the hash); tokens with `hmac.compare_digest`.
A login is throttled per user name and per client address (a sliding window), so guessing is
slow without letting one attacker lock every user out from everywhere.
"""

from __future__ import annotations

import hmac
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from worker.errors import ConfigError

_HASHER = PasswordHasher()
#: A hash nobody's password matches: a login for an unknown user costs the same time.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_ENTRY_SPLIT = re.compile(r",(?=[^,:$\s]+:\$)")
MIN_TOKEN = 16


def hash_password(password: str) -> str:
    """The argon2id hash to put in CONSOLE_USERS as `name:HASH`."""
    return _HASHER.hash(password)


def parse_users(raw: str | None) -> dict[str, str]:
    """CONSOLE_USERS → {name: hash}. Entries are `name:hash` (argon2 or bcrypt), apart by `;`,
    whitespace, or a comma before the next `name:$…` (argon2 hashes contain commas)."""
    users: dict[str, str] = {}
    chunks = [part for chunk in (raw or "").replace(";", " ").split() for part in _ENTRY_SPLIT.split(chunk) if part]
    for index, entry in enumerate(chunks, start=1):
        name, sep, hashed = entry.partition(":")
        if not sep or not name or not hashed.startswith(("$argon2", "$2a$", "$2b$", "$2y$")):
            raise ConfigError(
                f"CONSOLE_USERS entry {index} is not `name:hash` (an argon2 or bcrypt hash).",
                fix="Make each entry with `stripe-lifecycle console-hash-password NAME` and separate "
                "entries with `;`.")
        users[name] = hashed
    return users


def parse_tokens(raw: str | None) -> dict[str, str]:
    """CONSOLE_API_TOKENS → {token: name}; an entry is `name:token` or just `token`."""
    tokens: dict[str, str] = {}
    for index, entry in enumerate((raw or "").replace(",", " ").split(), start=1):
        name, sep, token = entry.rpartition(":")
        if not token:
            raise ConfigError(f"CONSOLE_API_TOKENS entry {index} has no token after `{name}:`.",
                              fix="Write entries as name:token or token, apart by commas.")
        tokens[token] = name if sep and name else f"token#{index}"
    return tokens


@dataclass
class Throttle:
    """At most `limit` failed logins per key within `window` seconds."""

    limit: int = 5
    window: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def blocked(self, *keys: str) -> bool:
        now = self.clock()
        with self._lock:
            return any(len(self._recent(key, now)) >= self.limit for key in keys)

    def fail(self, *keys: str) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)

    def clear(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float]:
        found = self._failures.setdefault(key, deque())
        while found and found[0] <= now - self.window:
            found.popleft()
        if len(self._failures) > 10_000:  # bounded memory under a spray of names
            self._failures = {k: v for k, v in self._failures.items() if v}
        return found


@dataclass
class Access:
    """The console's credentials, parsed once."""

    users: dict[str, str]
    tokens: dict[str, str]
    metrics_token: str | None
    throttle: Throttle = field(default_factory=Throttle)

    def check_password(self, name: str, password: str) -> bool:
        hashed = self.users.get(name)
        if hashed is not None and hashed.startswith("$2"):
            import bcrypt  # noqa: PLC0415 - only for bcrypt entries

            try:
                return bcrypt.checkpw(password.encode()[:72], hashed.encode())
            except ValueError:
                return False
        try:
            return _HASHER.verify(hashed or _DUMMY_HASH, password) and hashed is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def weak_tokens(self) -> list[str]:
        """Names of API tokens shorter than MIN_TOKEN characters (logged as a warning)."""
        return [name for token, name in self.tokens.items() if len(token) < MIN_TOKEN]

    def token_name(self, token: str) -> str | None:
        found = None
        for known, name in self.tokens.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                found = name
        return found

    def is_metrics_token(self, token: str) -> bool:
        return self.metrics_token is not None and hmac.compare_digest(self.metrics_token.encode(), token.encode())


def access_from(settings) -> Access:  # noqa: ANN001 - worker.settings.Settings
    def value(secret) -> str | None:  # noqa: ANN001
        return secret.get_secret_value() if secret is not None else None

    return Access(parse_users(value(settings.console_users)), parse_tokens(value(settings.console_api_tokens)),
                  value(settings.metrics_token) or None)


def refuse_unsafe_bind(settings, access: Access) -> None:  # noqa: ANN001
    """A console reachable from other machines with nobody able to log in is a mistake."""
    if settings.console_host not in LOOPBACK and not access.users and not settings.console_proxy_user_header:
        raise ConfigError(
            f"The console would listen on {settings.console_host} (not loopback) but CONSOLE_USERS is empty, "
            "so nobody could log in and the console must not run unprotected.",
            fix="Set CONSOLE_USERS (see `stripe-lifecycle console-hash-password`), or CONSOLE_HOST=127.0.0.1.")
