"""Rule-file problems and where they are (pure core): the collector, line lookup, suggestions.

Every check appends to one `Problems` collector instead of raising, so one bad rule never
hides another's errors; `Problems.lines()` gives the `FILE:LINE: message` lines of
PRODUCT.md §4, sorted by file and line. Line numbers are 1-based and come from the ruamel
round-trip nodes (`CommentedMap.lc` / `CommentedSeq.lc`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass
class Problems:
    """Collects problems; `scrub` replaces values that must never be shown (secrets)."""

    items: list[Problem] = field(default_factory=list)
    hidden: dict[str, str] = field(default_factory=dict)  # secret value -> shown placeholder

    def add(self, file: str, line: int, message: str) -> None:
        self.items.append(Problem(file, line, self.scrub(message)))

    def scrub(self, text: str) -> str:
        for value in sorted(self.hidden, key=len, reverse=True):
            if value and value in text:
                text = text.replace(value, self.hidden[value])
        return text

    def lines(self) -> list[str]:
        unique = list(dict.fromkeys(self.items))  # first report wins, order kept within a line
        return [str(p) for p in sorted(unique, key=lambda p: (p.file, p.line))]

    def __bool__(self) -> bool:
        return bool(self.items)


def node_line(node: Any, default: int = 1) -> int:
    """The line where a mapping or sequence node starts."""
    lc = getattr(node, "lc", None)
    return lc.line + 1 if lc is not None and lc.line is not None else default


def key_line(mapping: Any, key: Any, default: int | None = None) -> int:
    """The line of `key` in a mapping node."""
    try:
        return mapping.lc.key(key)[0] + 1
    except (AttributeError, KeyError, TypeError):
        return default if default is not None else node_line(mapping)


def value_line(mapping: Any, key: Any, default: int | None = None) -> int:
    """The line where the value of `key` starts (differs from the key in multi-line flows)."""
    try:
        return mapping.lc.value(key)[0] + 1
    except (AttributeError, KeyError, TypeError):
        return key_line(mapping, key, default)


def item_line(sequence: Any, index: int, default: int | None = None) -> int:
    try:
        return sequence.lc.item(index)[0] + 1
    except (AttributeError, KeyError, TypeError, IndexError):
        return default if default is not None else node_line(sequence)


def line_at(root: Any, path: Iterable[Any], default: int) -> int:
    """The line of the deepest node reachable from `root` along `path` (keys and indexes)."""
    line, node = default, root
    for step in path:
        if isinstance(node, CommentedMap) and step in node:
            line, node = value_line(node, step, line), node[step]
        elif isinstance(node, CommentedSeq) and isinstance(step, int) and 0 <= step < len(node):
            line, node = item_line(node, step, line), node[step]
        else:
            break
    return line


def suggestion(word: str, choices: Iterable[str]) -> str:
    """"; did you mean 'x'?" for the closest choice, or "" when nothing is close."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def listing(choices: Iterable[str]) -> str:
    return ", ".join(choices)


def type_name(value: Any) -> str:
    """How a YAML value is called in messages."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    if isinstance(value, str):
        return "text"
    return "a number"


def unknown_keys(problems: Problems, file: str, mapping: Any, allowed: Iterable[str],
                 where: str) -> list[str]:
    """Report every key of `mapping` not in `allowed` (with the closest valid key); return them."""
    allowed = list(allowed)
    bad = [k for k in mapping if k not in allowed]
    for key in bad:
        hint = suggestion(str(key), allowed) or f"; valid keys: {listing(allowed)}"
        problems.add(file, key_line(mapping, key), f"{where}: unknown key '{key}'{hint}")
    return bad


@dataclass(frozen=True)
class Section:
    """One top-level key of one rule file: the file, the key's line, and its value node."""

    file: str
    line: int
    node: Any
