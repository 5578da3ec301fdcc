"""Param field types shared by the handlers' models, checked when rules load.

Error messages are short sentences for the rule author, and never echo the value: a URL or a
header may carry a token once `${ENV}` references are substituted.
"""

from __future__ import annotations

import re
from email.utils import formataddr, getaddresses
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator

from actions.templates import check_template, is_template

_ADDRESS = re.compile(r"^[^@\s<>(),;:\"\[\]]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$")


def _http_url(value: str) -> str:
    value = value.strip()
    if is_template(value):
        raise ValueError("must be a fixed http:// or https:// URL (templates are not allowed in URLs)")
    try:
        parts = urlsplit(value)
    except ValueError:
        raise ValueError("must be an http:// or https:// URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value


def _template(value: str) -> str:
    problem = check_template(value)
    if problem:
        raise ValueError(problem)
    return value


def _non_empty_template(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return _template(value)


def email_problem(value: str) -> str | None:
    """Why `value` (one address, `Name <a@b.example>` allowed) is not an email address, or None."""
    pairs = getaddresses([value])
    if len(pairs) != 1 or not _ADDRESS.match(pairs[0][1] or ""):
        return "must be an email address like ops@example.com"
    return None


def split_addresses(value: str) -> list[str]:
    """`"a@x.io, B <b@y.io>"` → the addresses' header forms, one per recipient.

    Parsed with the standard library (RFC 5322), not by splitting on commas, so a quoted
    display name holding a comma (`"Success, Customer" <cs@example.com>`) stays one address.
    An unparseable part comes back as is, so `email_problem` can name it."""
    if not value.strip():
        return []
    pairs = getaddresses([value])
    if any(not address for _, address in pairs):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [formataddr(pair) if pair[0] else pair[1] for pair in pairs]


def _address_or_template(value: str) -> str:
    if is_template(value):
        return _template(value)
    for part in split_addresses(value) or [""]:
        problem = email_problem(part)
        if problem:
            raise ValueError(problem)
    return value


HttpURL = Annotated[str, AfterValidator(_http_url)]
"""A fixed http(s) URL with a host."""

Template = Annotated[str, AfterValidator(_template)]
"""A string that may hold Jinja2; its syntax is checked at load time."""

RequiredTemplate = Annotated[str, AfterValidator(_non_empty_template)]
"""A non-empty string that may hold Jinja2."""

EmailAddresses = Annotated[str, AfterValidator(_address_or_template)]
"""One or more comma-separated addresses, or a template rendering to them."""
