"""`stripe-lifecycle check [--rules DIR]`: validate every rule file (wiring, CLI).

Exit 0 with a one-line summary on stdout ("rules OK: 4 files, 3 stages, 2 automations,
1 destination"), after any warnings on stderr (`FILE:LINE: warning: …`: a `plan:` value that
names no price of the synced Stripe data, when DATABASE_URL has some), followed, when the
database is reachable, by one line naming every currency of the synced subscriptions that has
no FX rate in stripe.yaml (a warning: exit stays 0); exit 1 with one `FILE:LINE: message` line
per problem on stderr, then a count; exit 2 when the folder is missing or unreadable (or, with
an email action, SMTP_URL is missing or malformed). FILE is relative to the folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer


from worker.cli.app import app, bootstrap, err, guarded, out
from worker.core.money import FxTable, missing_rates, missing_rates_text
from worker.errors import ConfigError

if TYPE_CHECKING:
    from worker.rules.model import RuleSet
    from worker.settings import Settings


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
    from worker.logs import redact
    from worker.rules.loader import load_rules

    settings = bootstrap()
    directory = rules if rules is not None else settings.rules_dir
    ruleset = load_rules(directory)
    check_smtp(ruleset, settings)
    warnings = _warnings(ruleset, settings.database_url.get_secret_value())
    for line in warnings:
        err.print(redact(line), markup=False, highlight=False)
    note = f", {_plural(len(warnings), 'warning')}" if warnings else ""
    out.print(summary(ruleset) + note, markup=False, highlight=False)
    missing = mirror_missing_rates(settings.database_url.get_secret_value(), ruleset)
    if missing:
        out.print(missing_rates_text(missing, FxTable.from_config(ruleset.source.mrr)), markup=False,
                  highlight=False)


def mirror_missing_rates(database_url: str, rules: RuleSet) -> list[str]:
    """Currencies in the synced mirror without an FX rate — when the database is reachable
    (and, for SQLite, already exists: `check` never creates a database); else nothing."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.orm import Session

    from worker.compute.mirror import mirror_currencies
    from worker.store.db import make_engine

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and (not url.database or not Path(url.database).exists()):
        return []
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            currencies = mirror_currencies(session)
    except (DBAPIError, OSError):
        return []  # unreachable, or never synced (no tables): nothing to name
    finally:
        engine.dispose()
    return missing_rates(currencies, FxTable.from_config(rules.source.mrr))


def check_smtp(rules: RuleSet, settings: Settings) -> None:
    """When an automation sends email, SMTP_URL must be set and well-formed (a ConfigError,
    exit 2, naming the first email action; the URL itself is never printed)."""
    from actions.smtp import SmtpUrlError, parse_smtp_url

    email = next(((a, spec) for a in rules.automations for spec in a.actions if spec.handler == "email"), None)
    if email is None:
        return
    where = f"{email[1].file or email[0].file}:{email[1].line or email[0].line}"
    if settings.smtp_url is None:
        raise ConfigError(f"{where}: automation '{email[0].name}' sends email, but SMTP_URL is not set.",
                          fix="Set SMTP_URL, e.g. smtps://user:password@mail.example.com?from=ops@example.com.")
    try:
        parse_smtp_url(settings.smtp_url.get_secret_value())
    except SmtpUrlError as exc:
        raise ConfigError(f"{where}: automation '{email[0].name}' sends email, but SMTP_URL is invalid ({exc}).",
                          fix="Fix SMTP_URL, e.g. smtps://user:password@mail.example.com.") from None


def _warnings(ruleset: RuleSet, database_url: str) -> list[str]:
    """What may be wrong but is not invalid: plan names unknown to the synced Stripe data."""
    from worker.rules.known_plans import known_plan_names, plan_warnings

    if not any(a.conditions.plan for a in ruleset.automations):
        return []
    known = known_plan_names(database_url)
    return plan_warnings(ruleset, known) if known is not None else []
