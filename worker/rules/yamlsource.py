"""Reading rule files (adapter: ruamel.yaml): YAML 1.2, node line numbers, exact numbers.

YAML 1.2 keeps `on:`, `yes`, `off` as plain strings (PyYAML's 1.1 would read `on:` as True).
Numbers with a fraction become `Decimal` from their text, never `float` (fx rates, MRR
thresholds are money). A syntax error or a duplicate key is a problem at its line, and the
file is skipped; the other files are still read.

Rule files are bounded before they are built into objects (they are read by the release
phase, `check`, and by every process): at most MAX_FILE_BYTES, MAX_DEPTH levels of nesting
and MAX_NODES values once aliases are expanded (a 430-byte "billion laughs" alias bomb would
otherwise take minutes to hours to walk). The bounds are checked on the parser's event
stream, which is iterative and linear, so the check itself is bounded too; a file over a
bound is one problem at the line where it went over.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    ScalarEvent,
)

from worker.rules.problems import Problems

RULE_SUFFIXES = (".yaml", ".yml")
MAX_FILE_BYTES = 1_000_000
MAX_DEPTH = 50
MAX_NODES = 100_000


class _ExactConstructor(RoundTripConstructor):
    """Round-trip constructor that reads YAML floats as Decimal (from the source text)."""


def _construct_decimal(constructor: Any, node: Any) -> Decimal:
    text = str(node.value).replace("_", "").lower()
    special = {".inf": "Infinity", "+.inf": "Infinity", "-.inf": "-Infinity", ".nan": "NaN"}
    try:
        return Decimal(special.get(text, text))
    except InvalidOperation:  # pragma: no cover - the resolver only sends float-shaped text
        return Decimal("NaN")


_ExactConstructor.add_constructor("tag:yaml.org,2002:float", _construct_decimal)


@dataclass(frozen=True)
class RuleFile:
    """One parsed file: its name relative to the rules folder and its root node (or None)."""

    name: str
    root: Any


def rule_paths(directory: Path) -> list[Path]:
    """Every *.yaml / *.yml file directly in `directory`, sorted by name."""
    return sorted(p for p in directory.iterdir()
                  if p.is_file() and p.suffix.lower() in RULE_SUFFIXES and not p.name.startswith("."))


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.Constructor = _ExactConstructor
    yaml.allow_duplicate_keys = False
    return yaml


def _syntax_message(exc: MarkedYAMLError) -> tuple[int, str]:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else 1
    what = (exc.problem or exc.context or "invalid YAML").strip()
    if "duplicate key" in what or "found duplicate key" in str(exc):
        key = what.split('"')[1] if '"' in what else ""
        return line, f"duplicate key '{key}'; each key may appear once in a mapping"
    context = f" ({exc.context.strip()})" if exc.context and exc.problem else ""
    return line, f"YAML syntax error: {what}{context}{_hint(what)}"


def _hint(problem: str) -> str:
    """A likely fix for the usual YAML mistakes of hand-written rule files."""
    if "block scalar" in problem or "chomping" in problem:
        return "; put values that start with > or | in quotes, e.g. mrr: \">= 100\""
    if "'\\t'" in problem or "\\t" in problem:
        return "; indent with spaces, not tabs"
    if "cannot start any token" in problem:
        return "; put the value in quotes"
    if "mapping values are not allowed" in problem:
        return "; put a value that contains ': ' in quotes, or fix the indentation"
    if "block end" in problem or "block mapping" in problem:
        return "; check the indentation of this line and the one before"
    return ""


def within_limits(name: str, text: str, problems: Problems) -> bool:
    """False (and the problem recorded at its line) when `text` is too large, nests deeper than
    MAX_DEPTH or expands (through aliases) to more than MAX_NODES values."""
    if len(text) > MAX_FILE_BYTES:
        problems.add(name, 1, f"the file is larger than {MAX_FILE_BYTES // 1_000_000} MB; rule files are "
                     "small, split it or remove what is not rules")
        return False
    sizes: dict[str, int] = {}  # anchor -> values it stands for, expanded
    open_: list[tuple[str | None, int]] = []  # per open collection: its anchor, the count at its start
    total = 0
    try:
        for event in _yaml().parse(text):
            if isinstance(event, CollectionStartEvent):
                open_.append((event.anchor, total))
                total += 1
                if len(open_) > MAX_DEPTH:
                    problems.add(name, event.start_mark.line + 1, f"nesting deeper than {MAX_DEPTH} levels; "
                                 "rule files need only a few, check the brackets and indentation")
                    return False
            elif isinstance(event, CollectionEndEvent):
                anchor, start = open_.pop()
                if anchor:
                    sizes[anchor] = total - start
            elif isinstance(event, ScalarEvent):
                total += 1
                if event.anchor:
                    sizes[event.anchor] = 1
            elif isinstance(event, AliasEvent):
                total += sizes.get(event.anchor, 1)
            if total > MAX_NODES:
                problems.add(name, event.start_mark.line + 1, f"the file expands to more than {MAX_NODES:,} "
                             "values (each alias *name repeats its anchor's contents); use fewer aliases")
                return False
    except YAMLError:
        return True  # the syntax error is reported by the load, at its line
    return True


def parse_text(name: str, text: str, problems: Problems) -> RuleFile | None:
    """Parse one file's text; on a syntax error or a broken bound record it and return None."""
    if not within_limits(name, text, problems):
        return None
    try:
        root = _yaml().load(text)
    except MarkedYAMLError as exc:
        line, message = _syntax_message(exc)
        problems.add(name, line, message)
        return None
    except YAMLError as exc:
        problems.add(name, 1, f"YAML syntax error: {exc}")
        return None
    except RecursionError:  # pragma: no cover - the depth bound comes first
        problems.add(name, 1, f"nesting deeper than {MAX_DEPTH} levels")
        return None
    except (TypeError, ValueError):  # ruamel cannot build it, e.g. a list or mapping as a key (`? - a`)
        problems.add(name, _complex_key_line(text), "a key that is a list or a mapping; keys must be plain "
                     "names (a `?` at the start of a line starts such a key)")
        return None
    return RuleFile(name, root)


def _complex_key_line(text: str) -> int:
    """The line of the first explicit `?` key (what makes a list or mapping a key), else 1."""
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("?"):
            return number
    return 1


def read_files(directory: Path, problems: Problems) -> tuple[list[str], list[RuleFile]]:
    """Names of all rule files, and those that parsed. Unreadable files are problems at line 1."""
    names, parsed = [], []
    for path in rule_paths(directory):
        names.append(path.name)
        try:
            if path.stat().st_size > MAX_FILE_BYTES:  # not even read: a 55 MB file would take minutes
                problems.add(path.name, 1, f"the file is larger than {MAX_FILE_BYTES // 1_000_000} MB; rule "
                             "files are small, split it or remove what is not rules")
                continue
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.add(path.name, 1, f"cannot read the file ({type(exc).__name__}); "
                         "make it readable UTF-8 text")
            continue
        rule_file = parse_text(path.name, text, problems)
        if rule_file is not None:
            parsed.append(rule_file)
    return names, parsed
