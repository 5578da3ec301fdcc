"""Loading the rule files (wiring): every *.yaml/*.yml in RULES_DIR read together, validated.

    rules = load_rules(Path("rules"))   # -> RuleSet, or raises RuleFileError

`${NAME}` reads `rule_environment()` (the process environment over `.env`) unless a test passes
its own mapping: every command, job and page reads the rules through this one loader.

Steps: parse each file (YAML 1.2, line numbers, exact decimals) → substitute `${ENV}`
references → split the files' top-level keys into sections (any file may hold any section;
`automations:`/`destinations:` lists from several files are concatenated, the other sections
may appear once) → check source settings, stages, automations, destinations. Every problem is
collected; if there is any, `RuleFileError(problems=["FILE:LINE: message", ...])` is raised
with all of them, sorted by file and line. FILE is relative to the rules folder.

Values read from the environment are registered with `worker.logs.register_secrets` and never
appear in a problem message (the `${NAME}` reference is shown instead).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from dotenv import dotenv_values

from worker.errors import ConfigError, RuleFileError
from worker.logs import register_secrets
from worker.rules.accounts import check_accounts
from worker.rules.automations import check_automations
from worker.rules.destinations import check_destinations
from worker.rules.envsubst import substitute_tree
from worker.rules.model import RuleSet
from worker.rules.problems import Problems, Section, key_line, suggestion, type_name
from worker.rules.sections import check_source, check_stages
from worker.rules.yamlsource import RuleFile, read_files

SINGLE_SECTIONS = ("contacts", "mrr", "stages", "precedence", "accounts")
LIST_SECTIONS = ("automations", "destinations")
TOP_LEVEL_KEYS = SINGLE_SECTIONS + LIST_SECTIONS


def rule_environment(dotenv: Path = Path(".env")) -> dict[str, str]:
    """What `${NAME}` reads: the `.env` file in the working directory (if any), overridden by
    the process environment — the same precedence as the settings (PRODUCT.md §2)."""
    values = {k: v for k, v in dotenv_values(dotenv).items() if v is not None} if dotenv.is_file() else {}
    return {**values, **os.environ}


def load_rules(directory: Path, env: Mapping[str, str] | None = None) -> RuleSet:
    """Read and validate every rule file in `directory`; `${NAME}` from `env`, by default
    `rule_environment()` (process environment over `.env`, as the settings read them).

    Raises ConfigError (exit 2) when the folder is missing or unreadable, RuleFileError
    (exit 1) listing every problem otherwise.
    """
    directory = Path(directory)
    env = rule_environment() if env is None else env
    _require_folder(directory)
    problems = Problems()
    try:
        names, files = read_files(directory, problems)
    except OSError as exc:
        raise ConfigError(f"Cannot read the rules folder {directory} ({type(exc).__name__}).",
                          fix="Check its permissions, or point RULES_DIR / --rules at it.") from None
    return build_ruleset(names, files, env, problems)


def build_ruleset(names: list[str], files: list[RuleFile], env: Mapping[str, str],
                  problems: Problems | None = None) -> RuleSet:
    """Validate parsed files (also used by tests and by reloads); raise RuleFileError on problems."""
    problems = problems or Problems()
    found: dict[str, str] = {}
    for rule_file in files:
        substitute_tree(rule_file.name, rule_file.root, env, problems, found)
    register_secrets(found.values())
    problems.hidden.update({value: f"${{{name}}}" for name, value in found.items() if len(value) >= 4})
    sections = _sections(files, problems)
    single = {key: (sections[key][0] if sections.get(key) else None) for key in SINGLE_SECTIONS}
    source = check_source(single["contacts"], single["mrr"], problems)
    stages = check_stages(single["stages"], single["precedence"], problems)
    automations = check_automations(sections.get("automations", []), stages.stages, problems)
    destinations = check_destinations(sections.get("destinations", []), problems)
    accounts = check_accounts(single["accounts"], problems, set(found.values()))
    if problems:
        raise RuleFileError(problems.lines())
    return RuleSet(source=source, stages=stages, automations=automations,
                   destinations=destinations, files=tuple(names), accounts=accounts)


def _require_folder(directory: Path) -> None:
    if not directory.exists():
        raise ConfigError(f"The rules folder {directory} does not exist.",
                          fix="Create it with your rule files, or set RULES_DIR (or --rules) to the right folder.")
    if not directory.is_dir():
        raise ConfigError(f"The rules path {directory} is not a folder.",
                          fix="Set RULES_DIR (or --rules) to the folder that holds the *.yaml rule files.")


def _sections(files: list[RuleFile], problems: Problems) -> dict[str, list[Section]]:
    """Top-level keys of all files, by key; unknown and repeated single keys are problems."""
    sections: dict[str, list[Section]] = {}
    for rule_file in files:
        root = rule_file.root
        if root is None:
            continue
        if not isinstance(root, dict):
            problems.add(rule_file.name, 1, f"expected a mapping of sections "
                         f"({', '.join(TOP_LEVEL_KEYS)}) at the top of the file, got {type_name(root)}")
            continue
        for key, node in root.items():
            line = key_line(root, key, 1)
            if key not in TOP_LEVEL_KEYS:
                hint = suggestion(str(key), TOP_LEVEL_KEYS) or f"; sections are {', '.join(TOP_LEVEL_KEYS)}"
                problems.add(rule_file.name, line, f"unknown key '{key}' at the top of the file{hint}")
                continue
            earlier = sections.get(key)
            if earlier and key in SINGLE_SECTIONS:
                problems.add(rule_file.name, line, f"'{key}' is already defined at "
                             f"{earlier[0].file}:{earlier[0].line}; define it once")
                continue
            sections.setdefault(key, []).append(Section(rule_file.name, line, node))
    return sections
