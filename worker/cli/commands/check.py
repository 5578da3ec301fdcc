"""`stripe-lifecycle check [--rules DIR]`: validate every rule file (wiring, CLI).

Exit 0 with a one-line summary on stdout ("rules OK: 4 files, 3 stages, 2 automations,
1 destination"), after any warnings on stderr (`FILE:LINE: warning: …`: a `plan:` value that
names no price of the synced Stripe data, when DATABASE_URL has some); exit 1 with one
`FILE:LINE: message` line per problem on stderr, then a count; exit 2 when the folder is
missing or unreadable. FILE is relative to the folder.
"""

from __future__ import annotations

from pathlib import Path

import typer

from worker.cli.app import app, bootstrap, err, guarded, out
from worker.logs import redact
from worker.rules.known_plans import known_plan_names, plan_warnings
from worker.rules.loader import load_rules, rule_environment
from worker.rules.model import RuleSet


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def summary(rules: RuleSet) -> str:
    """The one-line summary printed when the rules are valid."""
    return (f"rules OK: {_plural(len(rules.files), 'file')}, {_plural(len(rules.stages.stages), 'stage')}, "
            f"{_plural(len(rules.automations), 'automation')}, "
            f"{_plural(len(rules.destinations), 'destination')}")


@app.command()
@guarded
def check(
    rules: Path = typer.Option(None, "--rules", help="Folder of rule files (default: RULES_DIR, ./rules).",
                               show_default=False),
) -> None:
    """Validate every rule file: FILE:LINE: message per problem (exit 1), else a summary (exit 0)."""
    settings = bootstrap()
    directory = rules if rules is not None else settings.rules_dir
    ruleset = load_rules(directory, rule_environment())
    warnings = _warnings(ruleset, settings.database_url.get_secret_value())
    for line in warnings:
        err.print(redact(line), markup=False, highlight=False)
    note = f", {_plural(len(warnings), 'warning')}" if warnings else ""
    out.print(summary(ruleset) + note, markup=False, highlight=False)


def _warnings(ruleset: RuleSet, database_url: str) -> list[str]:
    """What may be wrong but is not invalid: plan names unknown to the synced Stripe data."""
    if not any(a.conditions.plan for a in ruleset.automations):
        return []
    known = known_plan_names(database_url)
    return plan_warnings(ruleset, known) if known is not None else []
