"""`stripe-lifecycle check [--rules DIR]`: validate every rule file (wiring, CLI).

Exit 0 with a one-line summary on stdout ("rules OK: 4 files, 3 stages, 2 automations,
1 destination"); exit 1 with one `FILE:LINE: message` line per problem on stderr, then a
count; exit 2 when the folder is missing or unreadable. FILE is relative to the folder.
"""

from __future__ import annotations

from pathlib import Path

import typer

from typing import TYPE_CHECKING

from worker.cli.app import app, bootstrap, guarded, out

if TYPE_CHECKING:
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
    from worker.rules.loader import load_rules

    settings = bootstrap()
    directory = rules if rules is not None else settings.rules_dir
    ruleset = load_rules(directory)
    out.print(summary(ruleset), markup=False, highlight=False)
