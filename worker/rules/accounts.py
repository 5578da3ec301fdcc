"""Checks for `accounts:` in stripe.yaml: several Stripe accounts into one contact space (pure core).

    accounts:
      - name: eu                       # [a-z0-9_-]{1,32}: in URLs (/stripe/webhook/eu) and keys
        api_key: "${STRIPE_KEY_EU}"    # from the environment, never written in the file
        api_base: https://api.stripe.com   # optional (default STRIPE_API_BASE)
        webhook_secret: "${STRIPE_WHSEC_EU}"  # optional: no secret, no webhook for this account

Every problem names its file and line; a key or secret never appears in a message (the loader
shows `${NAME}` in place of every value read from the environment). With no `accounts:` the
deployment has one account, `default`, from STRIPE_API_KEY (worker.sync.accounts).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import SecretStr
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from worker.rules.envsubst import Unresolved
from worker.rules.model import AccountConfig
from worker.rules.problems import Problems, Section, item_line, type_name, unknown_keys, value_line

NAME = re.compile(r"^[a-z0-9_-]{1,32}$")
FIELDS = ("name", "api_key", "api_base", "webhook_secret")
_EXAMPLE = 'e.g. - {name: eu, api_key: "${STRIPE_KEY_EU}"}'


def check_accounts(section: Section | None, problems: Problems, secrets: set[str]) -> tuple[AccountConfig, ...]:
    """The valid accounts of `accounts:`; `secrets` are the values read from the environment
    (a key typed into the file itself is refused: rule files are read by many)."""
    if section is None or section.node is None:
        return ()
    if not isinstance(section.node, CommentedSeq) or not section.node:
        problems.add(section.file, section.line, f"accounts: expected a list of Stripe accounts, {_EXAMPLE}")
        return ()
    found: dict[str, AccountConfig] = {}
    for index, node in enumerate(section.node):
        line = item_line(section.node, index, section.line)
        account = _account(section.file, line, node, problems, secrets)
        if account is None:
            continue
        if account.name in found:
            problems.add(section.file, line, f"accounts: the name '{account.name}' is used twice; "
                         "give every account its own name")
            continue
        found[account.name] = account
    return tuple(found.values())


def _account(file: str, line: int, node: Any, problems: Problems, secrets: set[str]) -> AccountConfig | None:
    if not isinstance(node, CommentedMap):
        problems.add(file, line, f"accounts: expected a mapping with name and api_key, got {type_name(node)}; "
                     + _EXAMPLE)
        return None
    unknown_keys(problems, file, node, FIELDS, "accounts")
    name = node.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        shown = f"'{name}'" if isinstance(name, str) else type_name(name) if "name" in node else "missing"
        problems.add(file, value_line(node, "name", line), f"accounts: name {shown} is not an account name; "
                     "write 1 to 32 lower-case letters, digits, '_' or '-', e.g. eu")
        return None
    where = f"accounts '{name}'"
    key = _secret(file, line, node, "api_key", where, problems, secrets, required=True)
    secret = _secret(file, line, node, "webhook_secret", where, problems, secrets, required=False)
    base = node.get("api_base")
    if base is not None and not (isinstance(base, str) and base.startswith(("http://", "https://"))):
        problems.add(file, value_line(node, "api_base", line), f"{where}: api_base expects a URL "
                     "such as https://api.stripe.com")
        return None
    if key is None:
        return None
    return AccountConfig(name=name, api_key=key, api_base=base.rstrip("/") if base else None,
                         webhook_secret=secret)


def _secret(file: str, line: int, node: CommentedMap, field: str, where: str, problems: Problems,
            secrets: set[str], *, required: bool) -> SecretStr | None:
    value = node.get(field)
    if value is None:
        if required:
            problems.add(file, line, f"{where}: api_key is missing; write api_key: \"${{VARIABLE}}\" "
                         "naming the environment variable that holds the Stripe key")
        return None
    if isinstance(value, Unresolved):
        return None  # the unset variable is already reported at this line
    at = value_line(node, field, line)
    if not isinstance(value, str) or not value.strip():
        problems.add(file, at, f"{where}: {field} expects \"${{VARIABLE}}\" naming an environment variable")
        return None
    if value not in secrets:
        problems.add(file, at, f"{where}: {field} is written in the file; put it in an environment "
                     f"variable and write {field}: \"${{VARIABLE}}\" (rule files are read by many)")
        return None
    return SecretStr(value)
