"""Checking service URLs (DATABASE_URL, REDIS_URL, SMTP_URL) without ever echoing a password.

A malformed URL cannot be trusted to split where a parser expects: a typo'd scheme
(`postgresql+psycopg//u:PW@h/x`) or an unencoded `@` in a password moves the password into
what a parser would call the host or the path. So nothing here puts any part of the value in
a message: errors name the variable and what is wrong, and `url_secrets` returns every piece
that may be a password so the log redaction masks it wherever it shows up later.
"""

from __future__ import annotations

import re

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]{0,40}://")
MAX_URL_LENGTH = 4096


class BadUrl(ValueError):
    """The URL is malformed; the message never holds any part of it."""


def _authority(url: str) -> str:
    """What lies between `scheme://` and the path (up to the last `@` before the host)."""
    rest = url.split("://", 1)[1] if "://" in url else url
    rest = rest.split("?", 1)[0].split("#", 1)[0]
    at = rest.rfind("@")
    slash = rest.find("/", at + 1 if at >= 0 else 0)
    return rest if slash < 0 else rest[:slash]


def check_service_url(name: str, url: str, schemes: tuple[str, ...], example: str) -> None:
    """Raise BadUrl (one sentence naming `name`, never the value) unless `url` is a URL with one
    of `schemes` (prefix match, case-insensitive), at most one `@` and a numeric port."""
    if len(url) > MAX_URL_LENGTH:
        raise BadUrl(f"{name} is longer than {MAX_URL_LENGTH} characters")
    if not _SCHEME.match(url):
        raise BadUrl(f"{name} is not a URL: it must start with a scheme and '://', e.g. {example}")
    scheme = url.split("://", 1)[0].lower()
    if not scheme.startswith(schemes):
        raise BadUrl(f"{name} has an unsupported scheme: expected {' or '.join(s + '://' for s in schemes)}, "
                     f"e.g. {example}")
    authority = _authority(url)
    if authority.count("@") > 1:
        raise BadUrl(f"{name} has more than one '@' before the host: percent-encode special characters "
                     "in the user name and password ('@' as %40, ':' as %3A, '/' as %2F)")
    host = authority.rpartition("@")[2]
    if host.startswith("["):
        host = host.partition("]")[2]
    if ":" in host:
        port = host.rpartition(":")[2]
        if not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
            raise BadUrl(f"{name} has a port that is not a number from 1 to 65535 (or, if the password "
                         "holds ':' or '/', percent-encode them as %3A and %2F)")


def url_secrets(url: str | None) -> list[str]:
    """Every piece of `url` that may be (part of) a password, however malformed it is: the
    whole user-info part, what follows its first ':', and a `password=` query value."""
    if not url:
        return []
    rest = url.split("://", 1)[1] if "://" in url else url.split("//", 1)[-1]
    found = []
    if "@" in rest:
        userinfo = rest.rsplit("@", 1)[0]
        found += [userinfo, userinfo.partition(":")[2]]
        head = userinfo.split("/", 1)[0].split("?", 1)[0]
        found += [head.partition(":")[2]]
    found += re.findall(r"(?i)password=([^&#\s]+)", url)
    return [piece for piece in found if piece]


def describe_url(url: str, name: str) -> str:
    """`scheme://host[:port]/path` of a well-formed URL (no user, password or query) for messages;
    just `name` when the URL is malformed (then no split of it can be trusted)."""
    try:
        check_service_url(name, url, ("",), "")
    except BadUrl:
        return name
    scheme, rest = url.split("://", 1)
    host = _authority(url).rpartition("@")[2]
    path = rest.split("?", 1)[0].split("#", 1)[0]
    at = path.rfind("@")
    slash = path.find("/", at + 1 if at >= 0 else 0)
    return f"{scheme}://{host}{path[slash:] if slash >= 0 else ''}"
