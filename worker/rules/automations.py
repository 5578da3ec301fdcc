"""Checks for `automations:` entries (pure core + the handler registry for `do:`).

Every entry is checked on its own and every problem recorded with its line, so one bad
automation never hides another's errors; only fully valid entries become `Automation`s.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from worker.rules.handlers import validate_params
from worker.rules.model import (
    GOAL_DEFAULTS,
    GOAL_KINDS,
    INTERVALS,
    STAGE_TRIGGERS,
    TIME_TRIGGERS,
    TRIGGERS,
    ActionSpec,
    Automation,
    Conditions,
    Goal,
)
from worker.rules.notation import parse_comparison, parse_duration, parse_percentage
from worker.rules.problems import (
    Problems,
    Section,
    item_line,
    key_line,
    listing,
    node_line,
    suggestion,
    type_name,
    unknown_keys,
    value_line,
)
from worker.rules.sections import names_list
from worker.rules.template_check import check_action_templates

AUTOMATION_KEYS = ("name", "description", "on", "within", "from", "to", "if", "do", "goal", "holdout",
                   "apply_to_existing")
CONDITION_KEYS = ("stage", "mrr", "plan", "interval", "metadata")
GOAL_KEYS = {"renewal": ("kind", "grace"), "retention": ("kind", "within"),
             "expansion": ("kind", "within"), "conversion": ("kind", "within", "to")}


class _Entry:
    """One automation being checked: its file, node, display name and the problem sink."""

    def __init__(self, file: str, node: CommentedMap, index: int, problems: Problems):
        self.file, self.node, self.problems = file, node, problems
        name = node.get("name")
        self.label = f"automation '{name}'" if isinstance(name, str) and name else f"automation #{index + 1}"
        self.ok = True
        self.name: str = ""
        self.trigger: str | None = None
        self.stages: list[str] = []

    def error(self, line: int, message: str) -> None:
        self.ok = False
        self.problems.add(self.file, line, f"{self.label}: {message}")

    def at(self, key: str) -> int:
        return value_line(self.node, key)


def check_automations(sections: Iterable[Section], stages: Iterable[str],
                      problems: Problems) -> tuple[Automation, ...]:
    """Every `automations:` list of every file, in file order."""
    stages = list(stages)
    found: list[Automation] = []
    first_seen: dict[str, str] = {}
    for section in sections:
        if section.node is None:
            continue
        if not isinstance(section.node, CommentedSeq):
            problems.add(section.file, section.line, "automations: expected a list of automations "
                         "(each item starting with '- name: ...')")
            continue
        for index, item in enumerate(section.node):
            line = item_line(section.node, index, section.line)
            if not isinstance(item, CommentedMap):
                problems.add(section.file, line, f"automation #{index + 1}: expected a mapping "
                             f"with name, on, do …, got {type_name(item)}")
                continue
            automation = _automation(_Entry(section.file, item, index, problems), stages, first_seen)
            if automation is not None:
                found.append(automation)
    return tuple(found)


def _automation(entry: _Entry, stages: list[str], first_seen: dict[str, str]) -> Automation | None:
    node = entry.node
    unknown_keys(entry.problems, entry.file, node, AUTOMATION_KEYS, entry.label)
    if any(k not in AUTOMATION_KEYS for k in node):
        entry.ok = False
    name = _name(entry, first_seen)
    trigger = _trigger(entry)
    entry.name, entry.trigger, entry.stages = name or "", trigger, stages
    values: dict[str, Any] = {
        "within": _within(entry, trigger),
        "from_": _stage_filter(entry, "from", trigger, stages),
        "to": _stage_filter(entry, "to", trigger, stages),
        "conditions": _conditions(entry, stages),
        "actions": _actions(entry),
        "goal": _goal(entry, stages),
        "holdout": _holdout(entry),
        "apply_to_existing": _flag(entry, "apply_to_existing"),
    }
    description = node.get("description", "")
    if not isinstance(description, str):
        entry.error(entry.at("description"), "description: expected text")
    if not entry.ok or name is None or trigger is None:
        return None
    return Automation(name=name, on=trigger, description=description, file=entry.file,
                      line=key_line(node, "name", node_line(node)), **values)


def _name(entry: _Entry, first_seen: dict[str, str]) -> str | None:
    node = entry.node
    if "name" not in node:
        entry.error(node_line(node), "missing required key 'name'")
        return None
    name = node["name"]
    if not isinstance(name, str) or not name.strip():
        entry.error(entry.at("name"), f"name: expected text, got {type_name(name)}")
        return None
    where = f"{entry.file}:{entry.at('name')}"
    if name in first_seen:
        entry.error(entry.at("name"), f"duplicate automation name '{name}' (first defined at "
                    f"{first_seen[name]}); names must be unique across all rule files")
        return None
    first_seen[name] = where
    return name


def _trigger(entry: _Entry) -> str | None:
    if "on" not in entry.node:
        entry.error(node_line(entry.node), f"missing required key 'on' (the trigger: {listing(TRIGGERS)})")
        return None
    trigger = entry.node["on"]
    if not isinstance(trigger, str):
        entry.error(entry.at("on"), f"on: expected one trigger name, got {type_name(trigger)}")
        return None
    if trigger not in TRIGGERS:
        hint = suggestion(str(trigger), TRIGGERS) or f"; triggers are {listing(TRIGGERS)}"
        entry.error(entry.at("on"), f"on: unknown trigger '{trigger}'{hint}")
        return None
    return trigger


def _within(entry: _Entry, trigger: str | None) -> Any:
    node = entry.node
    if trigger is None:
        return None
    if trigger in TIME_TRIGGERS and "within" not in node:
        entry.error(entry.at("on"), f"on: {trigger} needs within: (how far ahead, e.g. within: 30 days)"
                    if trigger != "past_due_for" else
                    "on: past_due_for needs within: (past due for at least, e.g. within: 7 days)")
        return None
    if trigger not in TIME_TRIGGERS and "within" in node:
        entry.error(entry.at("within"), f"within: does not apply to on: {trigger}; only to "
                    f"{listing(sorted(TIME_TRIGGERS))}")
        return None
    if "within" not in node:
        return None
    duration, message = parse_duration(node["within"])
    if message:
        entry.error(entry.at("within"), f"within: {message}")
    return duration


def _stage_filter(entry: _Entry, key: str, trigger: str | None, stages: list[str]) -> tuple[str, ...] | None:
    node = entry.node
    if key not in node:
        return None
    if trigger is not None and trigger not in STAGE_TRIGGERS:
        entry.error(key_line(node, key), f"{key}: only applies to on: stage_changed (this is on: {trigger})")
        return None
    return _stage_names(entry, node, key, stages, f"{key}:")


def _stage_names(entry: _Entry, node: CommentedMap, key: str, stages: list[str],
                 what: str) -> tuple[str, ...] | None:
    names = names_list(node[key])
    if names is None:
        entry.error(value_line(node, key), f"{what} expected a stage name or a list of them, "
                    f"got {type_name(node[key])}")
        return None
    for index, name in enumerate(names):
        if name not in stages:
            line = item_line(node[key], index) if isinstance(node[key], CommentedSeq) else value_line(node, key)
            hint = suggestion(name, stages) or f"; stages are {listing(stages) or '(none defined)'}"
            entry.error(line, f"{what} unknown stage '{name}'{hint}")
    return tuple(names)


def _conditions(entry: _Entry, stages: list[str]) -> Conditions:
    if "if" not in entry.node or entry.node["if"] is None:
        return Conditions()
    node = entry.node["if"]
    if not isinstance(node, CommentedMap):
        entry.error(entry.at("if"), f"if: expected a mapping of conditions ({listing(CONDITION_KEYS)}, "
                    f"metadata.KEY), got {type_name(node)}")
        return Conditions()
    values: dict[str, Any] = {"metadata": {}}
    for key in node:
        _condition(entry, node, key, stages, values)
    return Conditions(**values)


def _condition(entry: _Entry, node: CommentedMap, key: Any, stages: list[str], values: dict) -> None:
    line = value_line(node, key)
    if key == "stage":
        values["stage"] = _stage_names(entry, node, key, stages, "if: stage:")
    elif key == "mrr":
        values["mrr"], message = parse_comparison(node[key])
        if message:
            entry.error(line, f"if: mrr: {message}")
    elif key == "plan":
        values["plan"] = _texts(entry, node, key, "if: plan:")
    elif key == "interval":
        values["interval"] = _intervals(entry, node, key)
    elif isinstance(key, str) and key.startswith("metadata.") and len(key) > len("metadata."):
        texts = _texts(entry, node, key, f"if: {key}:")
        if texts is not None:
            values["metadata"][key[len("metadata."):]] = texts
    elif key == "metadata" and isinstance(node[key], CommentedMap):
        for meta_key in node[key]:
            texts = _texts(entry, node[key], meta_key, f"if: metadata: {meta_key}:")
            if texts is not None:
                values["metadata"][str(meta_key)] = texts
    elif key == "metadata":
        entry.error(line, "if: metadata: expected a mapping of metadata key to value(s)")
    else:
        hint = suggestion(str(key), CONDITION_KEYS) or f"; conditions are {listing(CONDITION_KEYS)} and metadata.KEY"
        entry.error(key_line(node, key), f"if: unknown condition '{key}'{hint}")


def _texts(entry: _Entry, node: CommentedMap, key: Any, what: str) -> tuple[str, ...] | None:
    """A value or a list of values, compared as text (metadata, plans)."""
    value = node[key]
    items = value if isinstance(value, list) else [value]
    if not items or any(isinstance(v, (dict, list)) or v is None for v in items):
        entry.error(value_line(node, key), f"{what} expected a value or a list of values, got {type_name(value)}")
        return None
    return tuple(_as_text(v) for v in items)


def _intervals(entry: _Entry, node: CommentedMap, key: Any) -> tuple[str, ...] | None:
    """`interval: year` or a list: the billing intervals (day, week, month, year)."""
    texts = _texts(entry, node, key, "if: interval:")
    if texts is None:
        return None
    for text in texts:
        if text not in INTERVALS:
            hint = suggestion(text, INTERVALS) or f"; intervals are {listing(INTERVALS)}"
            entry.error(value_line(node, key), f"if: interval: unknown billing interval '{text}'{hint}")
    return texts


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _actions(entry: _Entry) -> tuple[ActionSpec, ...]:
    node = entry.node
    if "do" not in node:
        entry.error(node_line(node), "missing required key 'do' (the list of actions, e.g. "
                    "do: [{log: {}}])")
        return ()
    items = node["do"]
    if not isinstance(items, CommentedSeq) or not items:
        entry.error(entry.at("do"), "do: expected a list of actions, each '- HANDLER: {params}'")
        return ()
    specs = []
    for index, item in enumerate(items):
        spec = _action(entry, items, index, item)
        if spec is not None:
            specs.append(spec)
    return tuple(specs)


def _action(entry: _Entry, items: CommentedSeq, index: int, item: Any) -> ActionSpec | None:
    line = item_line(items, index)
    if isinstance(item, str):
        name, params = item, None
    elif isinstance(item, CommentedMap) and len(item) == 1:
        name = next(iter(item))
        params, line = item[name], key_line(item, name, line)
    else:
        keys = listing(str(k) for k in item) if isinstance(item, CommentedMap) else type_name(item)
        entry.error(line, f"do: each action is one handler and its parameters, e.g. '- slack: "
                    f"{{...}}'; this item has {keys}")
        return None
    where = f"do: {name}"
    model = validate_params(entry.file, line, str(name), params, f"{entry.label}: {where}", entry.problems)
    if model is None:
        entry.ok = False
        return None
    if params is not None:
        for at, message in check_action_templates(params, line, entry.name, entry.trigger):
            entry.error(at, f"{where}: {message}")
        _stage_mapping(entry, params, model, line, where)
    return ActionSpec(handler=str(name), params=model, line=line, file=entry.file)


def _stage_mapping(entry: _Entry, params: Any, model: Any, line: int, where: str) -> None:
    """A handler's stage mapping (hubspot `stage_values`) may only name defined stages: a
    typo would silently push the raw stage name instead of the mapped value."""
    mapping = getattr(model, "stage_values", None)
    if not isinstance(mapping, dict):
        return
    node = params.get("stage_values") if isinstance(params, CommentedMap) else None
    for stage in mapping:
        if stage not in entry.stages:
            at = key_line(node, stage, line) if isinstance(node, CommentedMap) else line
            hint = suggestion(stage, entry.stages) or f"; stages are {listing(entry.stages) or '(none defined)'}"
            entry.error(at, f"{where}: stage_values: unknown stage '{stage}'{hint}")


def _goal(entry: _Entry, stages: list[str]) -> Goal | None:
    node = entry.node.get("goal")
    if node is None:
        return None
    if isinstance(node, str):  # shorthand: `goal: renewal`
        node = CommentedMap([("kind", node)])
    if not isinstance(node, CommentedMap) or "kind" not in node:
        entry.error(entry.at("goal"), f"goal: expected {{kind: ...}} with kind one of {listing(GOAL_KINDS)}")
        return None
    kind = node["kind"]
    if not isinstance(kind, str) or kind not in GOAL_KINDS:
        hint = suggestion(str(kind), GOAL_KINDS) or f"; kinds are {listing(GOAL_KINDS)}"
        entry.error(value_line(node, "kind", entry.at("goal")), f"goal: unknown kind '{kind}'{hint}")
        return None
    return _goal_of_kind(entry, node, kind, stages)


def _goal_of_kind(entry: _Entry, node: CommentedMap, kind: str, stages: list[str]) -> Goal | None:
    before = len(entry.problems.items)
    allowed = GOAL_KEYS[kind]
    for key in node:
        if key not in allowed:
            other = [k for k, keys in GOAL_KEYS.items() if key in keys]
            why = f"; '{key}' is for goal kind {listing(other)}" if other else suggestion(str(key), allowed)
            entry.error(key_line(node, key), f"goal: '{key}' does not apply to kind {kind}{why}")
    values = dict(GOAL_DEFAULTS[kind])
    for key in ("grace", "within"):
        if key in node and key in allowed:
            values[key], message = parse_duration(node[key])
            if message:
                entry.error(value_line(node, key), f"goal: {key}: {message}")
    if "to" in node and kind == "conversion":
        target = node["to"]
        if not isinstance(target, str) or target not in stages:
            hint = suggestion(str(target), stages) or f"; stages are {listing(stages) or '(none defined)'}"
            entry.error(value_line(node, "to"), f"goal: to: unknown stage '{target}'{hint}")
        values["to"] = target
    if kind == "conversion" and "to" not in node and "customer" not in stages:
        entry.error(value_line(entry.node, "goal"), "goal: conversion defaults to stage 'customer', "
                    "which is not defined; name the target stage with to:")
    if len(entry.problems.items) > before:
        return None
    return Goal(kind=kind, **values)


def _flag(entry: _Entry, key: str) -> bool:
    value = entry.node.get(key, False)
    if not isinstance(value, bool):
        entry.error(entry.at(key), f"{key}: expected true or false, got {type_name(value)}")
        return False
    return value


def _holdout(entry: _Entry) -> Decimal:
    if "holdout" not in entry.node:
        return Decimal(0)
    fraction, message = parse_percentage(entry.node["holdout"])
    if message:
        entry.error(entry.at("holdout"), f"holdout: {message}")
        return Decimal(0)
    return fraction
