"""Reading rule files (adapter: ruamel.yaml): YAML 1.2, node line numbers, exact numbers.

YAML 1.2 keeps `on:`, `yes`, `off` as plain strings (PyYAML's 1.1 would read `on:` as True).
Numbers with a fraction become `Decimal` from their text, never `float` (fx rates, MRR
thresholds are money). A syntax error or a duplicate key is a problem at its line, and the
file is skipped; the other files are still read.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from worker.rules.problems import Problems

RULE_SUFFIXES = (".yaml", ".yml")


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


def parse_text(name: str, text: str, problems: Problems) -> RuleFile | None:
    """Parse one file's text; on a syntax error record it and return None."""
    try:
        root = _yaml().load(text)
    except MarkedYAMLError as exc:
        line, message = _syntax_message(exc)
        problems.add(name, line, message)
        return None
    except YAMLError as exc:
        problems.add(name, 1, f"YAML syntax error: {exc}")
        return None
    return RuleFile(name, root)


def read_files(directory: Path, problems: Problems) -> tuple[list[str], list[RuleFile]]:
    """Names of all rule files, and those that parsed. Unreadable files are problems at line 1."""
    names, parsed = [], []
    for path in rule_paths(directory):
        names.append(path.name)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.add(path.name, 1, f"cannot read the file ({type(exc).__name__}); "
                         "make it readable UTF-8 text")
            continue
        rule_file = parse_text(path.name, text, problems)
        if rule_file is not None:
            parsed.append(rule_file)
    return names, parsed
