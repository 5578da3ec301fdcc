"""Checks for `destinations:` entries (PRODUCT.md §4, "push stages and Stripe data downstream").

Each entry names one handler with its parameters (validated by the handler's Params, like an
action) and, optionally, `traits:` — the contact traits pushed (default: all of TRAITS).
"""

from __future__ import annotations

from collections.abc import Iterable

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from worker.rules.handlers import validate_params
from worker.rules.model import TRAITS, Destination
from worker.rules.problems import (
    Problems, Section, item_line, key_line, listing, suggestion, type_name, value_line,
)
from worker.rules.sections import names_list


def check_destinations(sections: Iterable[Section], problems: Problems) -> tuple[Destination, ...]:
    found: list[Destination] = []
    for section in sections:
        if section.node is None:
            continue
        if not isinstance(section.node, CommentedSeq):
            problems.add(section.file, section.line, "destinations: expected a list, each item "
                         "'- HANDLER: {params}' with optional traits: [...]")
            continue
        for index, item in enumerate(section.node):
            destination = _destination(section.file, section.node, index, item, problems)
            if destination is not None:
                found.append(destination)
    return tuple(found)


def _destination(file: str, items: CommentedSeq, index: int, item: object,
                 problems: Problems) -> Destination | None:
    line = item_line(items, index)
    label = f"destination #{index + 1}"
    handlers = [k for k in item if k != "traits"] if isinstance(item, CommentedMap) else []
    if len(handlers) != 1:
        shown = listing(str(k) for k in handlers) if handlers else "none"
        got = f"handlers: {shown}" if isinstance(item, CommentedMap) else type_name(item)
        problems.add(file, line, f"{label}: expected one handler and its parameters, e.g. "
                     f"'- segment: {{write_key: ...}}' (with optional traits: [...]); got {got}")
        return None
    name = str(handlers[0])
    label = f"destination #{index + 1} ({name})"
    handler_line = key_line(item, handlers[0], line)
    params = validate_params(file, handler_line, name, item[handlers[0]], label, problems)
    traits = _traits(file, item, label, problems)
    if params is None or traits is None:
        return None
    return Destination(handler=name, params=params, traits=traits, file=file, line=handler_line)


def _traits(file: str, item: CommentedMap, label: str, problems: Problems) -> tuple[str, ...] | None:
    if "traits" not in item:
        return TRAITS
    node = item["traits"]
    names = names_list(node)
    if names is None:
        problems.add(file, value_line(item, "traits"), f"{label}: traits: expected a list of "
                     f"traits ({listing(TRAITS)})")
        return None
    ok = True
    for index, name in enumerate(names):
        if name not in TRAITS:
            line = item_line(node, index) if isinstance(node, CommentedSeq) else value_line(item, "traits")
            hint = suggestion(name, TRAITS) or f"; traits are {listing(TRAITS)}"
            problems.add(file, line, f"{label}: traits: unknown trait '{name}'{hint}")
            ok = False
    return tuple(names) if ok else None
