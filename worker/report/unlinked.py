"""Unlinked revenue: MRR of Stripe customers that link to no contact (adapter over the core).

The report's MRR total is the sum of contacts; customers without the contact metadata key
(or whose contact does not exist and `create_missing` is off) belong to no contact and would
be left out without a word. This computes their MRR from the synced mirror as of `now`, with
the same rules as `accounts` (preset, customer discounts, currency options), so the report can
say how much revenue is unlinked and how to link it.

JSON (`report --json` key `unlinked`):
`{"customers": N, "customers_with_mrr": M, "mrr_minor": X, "unconverted": {"KWD": 1234}}` —
N unlinked (not deleted) Stripe customers, M of them with MRR above 0, X their MRR in the
report's currency (each currency converted exactly with `mrr.fx_rates`, rounded once), and the
MRR (minor units of each currency) in currencies without a rate, left out of X.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from worker.compute.mirror import unlinked_chunks
from worker.core.accounts import customer_discounts
from worker.core.money import FxTable, round_minor
from worker.core.mrr import subscription_mrr
from worker.errors import LifecycleError
from worker.logs import get_logger
from worker.rules.model import RuleSet

log = get_logger(__name__)
HOW_TO_LINK = ("Link them by setting the `{key}` metadata key on each Stripe customer "
               "(`stripe-lifecycle accounts --unlinked` lists them).")


@dataclass
class Unlinked:
    customers: int = 0
    customers_with_mrr: int = 0
    mrr_minor: int = 0
    unconverted: dict[str, int] = field(default_factory=dict)  # currency (upper) → MRR minor units

    def to_json(self) -> dict[str, Any]:
        return {"customers": self.customers, "customers_with_mrr": self.customers_with_mrr,
                "mrr_minor": self.mrr_minor, "unconverted": dict(self.unconverted)}


def unlinked_revenue(session: Session, rules: RuleSet, now: datetime) -> Unlinked:
    """MRR of the customers linked to no contact, in the reporting currency, as of `now`."""
    fx = FxTable.from_config(rules.source.mrr)
    preset = rules.source.mrr.preset
    native: dict[str, int] = {}
    result = Unlinked()
    for data in (d for chunk in unlinked_chunks(session) for d in chunk.values()):
        result.customers += 1
        discounts = customer_discounts([data.customer])
        amounts: dict[str, int] = {}
        for sub in data.subscriptions:
            try:
                mrr = subscription_mrr(sub, preset, now, customer_discount=discounts.get(data.customer["id"]))
            except LifecycleError as exc:  # one unreadable subscription does not stop the report
                log.warning("unlinked_mrr_unreadable", subscription=sub.get("id"), error=str(exc))
                continue
            if mrr.counted and mrr.minor:
                amounts[mrr.currency] = amounts.get(mrr.currency, 0) + mrr.minor
        result.customers_with_mrr += int(any(amounts.values()))
        for currency, minor in amounts.items():
            native[currency] = native.get(currency, 0) + minor
    convertible = {c: v for c, v in native.items() if fx.has_rate(c)}
    result.unconverted = {c.upper(): v for c, v in sorted(native.items()) if c not in convertible}
    result.mrr_minor = round_minor(fx.value(convertible)) if convertible else 0
    return result


def how_to_link(rules: RuleSet) -> str:
    return HOW_TO_LINK.format(key=rules.source.contacts.id_metadata_key)
