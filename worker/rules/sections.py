"""Checks for the source settings (`contacts:`, `mrr:`) and `stages:`/`precedence:` (pure core).

Each function reads a ruamel mapping, records every problem with its line, and returns the
typed model built from what was valid (so later checks, e.g. stage names in automations,
still run against the known stages).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from worker.rules.model import (
    ContactsConfig, MrrConfig, SourceConfig, StageDef, StagesConfig, STRIPE_STATUSES,
)
from worker.rules.problems import (
    Problems, Section, item_line, key_line, listing, suggestion, type_name, unknown_keys, value_line,
)

_CURRENCY = re.compile(r"^[A-Za-z]{3}$")


def names_list(value: Any) -> list[str] | None:
    """A name or a list of names → list of str; None when the shape is wrong."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def check_source(contacts: Section | None, mrr: Section | None, problems: Problems) -> SourceConfig:
    """`contacts:` and `mrr:` (normally in stripe.yaml); defaults where a section is absent."""
    return SourceConfig(contacts=_contacts(contacts, problems), mrr=_mrr(mrr, problems))


def _mapping(section: Section | None, name: str, problems: Problems) -> bool:
    if section is None or section.node is None:
        return False
    if not isinstance(section.node, CommentedMap):
        problems.add(section.file, section.line,
                     f"{name}: expected a mapping of settings, got {type_name(section.node)}")
        return False
    return True


def _contacts(section: Section | None, problems: Problems) -> ContactsConfig:
    if not _mapping(section, "contacts", problems):
        return ContactsConfig()
    file, node = section.file, section.node
    unknown_keys(problems, file, node, ContactsConfig.model_fields, "contacts")
    values: dict[str, Any] = {}
    if "type" in node:
        if node["type"] in ("account", "user"):
            values["type"] = node["type"]
        else:
            problems.add(file, value_line(node, "type"), f"contacts.type: '{node['type']}' is not "
                         "a contact type; write account or user")
    if "id_metadata_key" in node:
        key = node["id_metadata_key"]
        if isinstance(key, str) and key.strip():
            values["id_metadata_key"] = key
        else:
            problems.add(file, value_line(node, "id_metadata_key"), "contacts.id_metadata_key: "
                         "expected the name of a Stripe customer metadata key, e.g. account_id")
    if "create_missing" in node:
        if isinstance(node["create_missing"], bool):
            values["create_missing"] = node["create_missing"]
        else:
            problems.add(file, value_line(node, "create_missing"), "contacts.create_missing: "
                         f"expected true or false, got {type_name(node['create_missing'])}")
    return ContactsConfig(**values)


def _currency(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) and _CURRENCY.match(value) else None


def _mrr(section: Section | None, problems: Problems) -> MrrConfig:
    if not _mapping(section, "mrr", problems):
        return MrrConfig()
    file, node = section.file, section.node
    unknown_keys(problems, file, node, MrrConfig.model_fields, "mrr")
    values: dict[str, Any] = {}
    if "preset" in node:
        if node["preset"] in ("stripe", "chartmogul"):
            values["preset"] = node["preset"]
        else:
            problems.add(file, value_line(node, "preset"), f"mrr.preset: '{node['preset']}' is not "
                         "a preset; write stripe or chartmogul")
    if "currency" in node:
        code = _currency(node["currency"])
        if code:
            values["currency"] = code
        else:
            problems.add(file, value_line(node, "currency"), f"mrr.currency: '{node['currency']}' "
                         "is not a currency code; write a three-letter ISO code, e.g. usd")
    if "fx_rates" in node:
        values["fx_rates"] = _fx_rates(file, node, problems)
    return MrrConfig(**values)


def _fx_rates(file: str, node: CommentedMap, problems: Problems) -> dict[str, Decimal]:
    rates = node["fx_rates"]
    if rates is None:
        return {}
    if not isinstance(rates, CommentedMap):
        problems.add(file, value_line(node, "fx_rates"), "mrr.fx_rates: expected a mapping of "
                     "currency code to rate, e.g. {eur: 1.08}")
        return {}
    found: dict[str, Decimal] = {}
    for code, rate in rates.items():
        line = value_line(rates, code)
        if _currency(code) is None:
            problems.add(file, key_line(rates, code), f"mrr.fx_rates: '{code}' is not a currency "
                         "code; write a three-letter ISO code, e.g. eur")
            continue
        number = _positive_decimal(rate)
        if number is None:
            shown = rate if isinstance(rate, (int, Decimal)) and not isinstance(rate, bool) else repr(rate)
            problems.add(file, line, f"mrr.fx_rates.{code}: expected a positive number (1 {code} "
                         f"in the reporting currency), got {shown}")
            continue
        found[_currency(code)] = number
    return found


def _positive_decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value)) if isinstance(value, (int, Decimal, str)) else None
    except ArithmeticError:
        return None
    return number if number is not None and number.is_finite() and number > 0 else None


def check_stages(stages: Section | None, precedence: Section | None,
                 problems: Problems) -> StagesConfig:
    """`stages:` (name → {status: [...]}) and `precedence:` (every stage, once; when absent,
    the stages' own order)."""
    defs = _stage_defs(stages, problems)
    order = _precedence(precedence, defs, problems) if precedence else list(defs)
    return StagesConfig(stages=defs, precedence=order)


def _stage_defs(section: Section | None, problems: Problems) -> dict[str, StageDef]:
    if section is None or section.node is None:
        return {}
    file, node = section.file, section.node
    if not isinstance(node, CommentedMap):
        problems.add(file, section.line, "stages: expected a mapping of stage name to "
                     "{status: [...]}, e.g. trial: {status: [trialing]}")
        return {}
    stages: dict[str, StageDef] = {}
    for name, spec in node.items():
        line = key_line(node, name)
        if not isinstance(name, str) or not name.strip():
            problems.add(file, line, f"stages: '{name}' is not a stage name; use text")
            continue
        if not isinstance(spec, CommentedMap) or "status" not in spec:
            problems.add(file, line, f"stage '{name}': expected {{status: [...]}} listing "
                         f"subscription statuses ({listing(STRIPE_STATUSES)})")
            stages[name] = StageDef(status=[])  # still a known name: no cascade of errors
            continue
        unknown_keys(problems, file, spec, ["status"], f"stage '{name}'")
        statuses = _statuses(file, name, spec, problems)
        stages[name] = StageDef(status=statuses)
    return stages


def _statuses(file: str, stage: str, spec: CommentedMap, problems: Problems) -> list[str]:
    statuses = names_list(spec["status"])
    if statuses is None:
        problems.add(file, value_line(spec, "status"), f"stage '{stage}': status expects a "
                     f"status or a list of statuses ({listing(STRIPE_STATUSES)})")
        return []
    good = []
    node = spec["status"]
    for index, status in enumerate(statuses):
        if status in STRIPE_STATUSES:
            good.append(status)
            continue
        line = item_line(node, index) if isinstance(node, CommentedSeq) else value_line(spec, "status")
        hint = suggestion(status, STRIPE_STATUSES) or f"; statuses are {listing(STRIPE_STATUSES)}"
        problems.add(file, line, f"stage '{stage}': unknown subscription status '{status}'{hint}")
    return good


def _precedence(section: Section, stages: dict[str, StageDef], problems: Problems) -> list[str]:
    file, node = section.file, section.node
    names = names_list(node)
    if names is None:
        problems.add(file, section.line, "precedence: expected a list of stage names, "
                     "e.g. [customer, trial, churn]")
        return list(stages)
    order: list[str] = []
    for index, name in enumerate(names):
        line = item_line(node, index, section.line)
        if name not in stages:
            hint = suggestion(name, stages) or f"; stages are {listing(stages) or '(none defined)'}"
            problems.add(file, line, f"precedence: unknown stage '{name}'{hint}")
        elif name in order:
            problems.add(file, line, f"precedence: stage '{name}' is listed twice")
        else:
            order.append(name)
    missing = [s for s in stages if s not in order]
    if missing and stages:
        problems.add(file, section.line, "precedence: does not list "
                     f"{listing(missing)}; list every stage once (a stage missing here is never assigned)")
    return order + missing
