"""`check` warns when a `plan:` condition names nothing Stripe has (wiring: rules × the mirror).

A plan condition is compared with each subscription's price ids, price lookup keys and
product names; a typo (`pro-anual`) silently matches no one. When a database with synced
prices is reachable, each listed value that is none of those is a warning (not an error: the
price may simply not be synced yet). The database is only read, never created or migrated:
an absent SQLite file or an unreachable server means "nothing to compare with".
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import make_url

from worker.rules.model import RuleSet
from worker.rules.problems import suggestion
from worker.store.db import make_engine
from worker.store.models import StripePrice, StripeProduct


def known_plan_names(database_url: str) -> set[str] | None:
    """Every price id, lookup key and product name in the database; None when there is none
    to look in (no database, no schema yet, no synced prices)."""
    try:
        url = make_url(database_url)
        if url.get_backend_name() == "sqlite" and (not url.database or not Path(url.database).exists()):
            return None
        engine = make_engine(database_url)
    except Exception:  # noqa: BLE001 - nothing to look in is not an error of the rules
        return None
    try:
        with engine.connect() as conn:
            names = {row[0] for row in conn.execute(select(StripePrice.id))}
            if not names:
                return None
            names |= {row[0] for row in conn.execute(select(StripePrice.lookup_key)) if row[0]}
            names |= {row[0] for row in conn.execute(select(StripeProduct.name)) if row[0]}
            return names
    except Exception:  # noqa: BLE001 - unreachable or not migrated: nothing to compare with
        return None
    finally:
        engine.dispose()


def plan_warnings(rules: RuleSet, known: set[str]) -> list[str]:
    """`FILE:LINE: warning: …` per plan value of an automation that names nothing known."""
    found = []
    for automation in rules.automations:
        for plan in automation.conditions.plan or ():
            if plan in known:
                continue
            hint = suggestion(plan, sorted(known)) or ""
            found.append(f"{automation.file}:{automation.line}: warning: automation '{automation.name}': "
                         f"if: plan: '{plan}' is no price lookup key, product name or price id of the synced "
                         f"Stripe data{hint}; it matches no subscription")
    return found
