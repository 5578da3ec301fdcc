"""`${NAME}` references in rule files (pure core): substituted from the environment in place.

Forms, anywhere inside a string value:

- `${NAME}`            the variable's value; unset → a problem naming NAME at that line
- `${NAME:-default}`   the variable's value, or `default` when it is unset or empty
- `$${`                a literal `${` (no substitution)

Values taken from the environment are secrets (that is how secrets stay out of rule files):
they are returned so the caller can register them for redaction, and every later problem
message shows `${NAME}` in their place. The walk also flags YAML shapes that are almost
always a quoting mistake: a tagged value (`mrr: != 0`) and a mapping used as a key
(`text: {{ contact.name }}` unquoted).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar

from worker.rules.problems import Problems, item_line, key_line, node_line, value_line

class Unresolved(str):
    """A string still holding an unset `${NAME}` (already reported): later checks skip it."""


_REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def substitute(text: str, env: Mapping[str, str], found: dict[str, str]) -> tuple[str, list[str]]:
    """Replace the references in `text`; return the new text and error messages (if any).

    `found` collects NAME → value for every variable read from `env`.
    """
    errors: list[str] = []

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        inner = match.group(1)
        name, has_default, default = inner.partition(":-")
        if not _NAME.match(name):
            errors.append(f"'${{{inner}}}' is not a valid reference; write ${{NAME}} or "
                          "${NAME:-default} with a variable name of letters, digits and _")
            return match.group(0)
        value = env.get(name)
        if value is None or (has_default and value == ""):
            if has_default:
                return default
            errors.append(f"environment variable {name} is not set (referenced as ${{{name}}}); "
                          f"set it, or write ${{{name}:-default}} to give a default")
            return match.group(0)
        found[name] = value
        return value

    return _REFERENCE.sub(replace, text), errors


def substitute_tree(file: str, root: Any, env: Mapping[str, str], problems: Problems,
                    found: dict[str, str]) -> None:
    """Substitute every string value under `root` in place, recording problems by line."""
    if isinstance(root, CommentedMap):
        for key in list(root):
            _check_key(file, root, key, problems)
            root[key] = _visit(file, root[key], value_line(root, key), env, problems, found)
    elif isinstance(root, CommentedSeq):
        for index, item in enumerate(root):
            root[index] = _visit(file, item, item_line(root, index), env, problems, found)


def _visit(file: str, value: Any, line: int, env: Mapping[str, str], problems: Problems,
           found: dict[str, str]) -> Any:
    if isinstance(value, str):
        new, errors = substitute(value, env, found)
        for message in errors:
            problems.add(file, line, message)
        return Unresolved(new) if errors else new
    if isinstance(value, TaggedScalar):
        tag = str(value.tag.value if hasattr(value.tag, "value") else value.tag)
        intended = f"{tag} {value.value}"
        problems.add(file, line, f"a value may not start with '{tag[:1]}' unquoted (YAML reads "
                     f"it as a tag); put the value in quotes, e.g. \"{intended}\"")
        return intended  # what was meant, so later checks do not pile up more errors
    if isinstance(value, (CommentedMap, CommentedSeq)):
        substitute_tree(file, value, env, problems, found)
    return value


def _check_key(file: str, mapping: CommentedMap, key: Any, problems: Problems) -> None:
    line = key_line(mapping, key, node_line(mapping))
    if isinstance(key, Mapping) or type(key).__name__ == "CommentedKeyMap":
        problems.add(file, line, "a value starting with '{' was read as a mapping; put templates "
                     "in quotes, e.g. text: \"{{ contact.name }}\"")
    elif isinstance(key, (list, tuple)):
        problems.add(file, line, "a list cannot be a key; write a name before the ':'")
