"""Typed models of the rule files (PRODUCT.md §4) — pure core. Loading and lines: `worker.rules.loader`.

These are the objects the rest of the product receives from `load_rules(...)`; they are
already validated (every name they hold is known, every duration parsed, every action's
parameters accepted by its handler), so consumers never re-check them.

Public API (names are stable; the triggers/engine, stages, delivery and report code use them):

- `RuleSet(source, stages, automations, destinations, files)`
- `Automation(name, on, description, within, from_, to, conditions, actions, goal, holdout, file, line)`
- `Conditions(stage, mrr, plan, metadata)`, `Comparison(op, value)`
- `ActionSpec(handler, params, line, file)`, `Goal(kind, grace, within, to)`
- `Destination(handler, params, traits, file, line)`
- constants `TRIGGERS`, `TIME_TRIGGERS`, `STAGE_TRIGGERS`, `GOAL_KINDS`, `COMPARISON_OPS`,
  `TRAITS`, `STRIPE_STATUSES`, `GOAL_DEFAULTS`.
"""

from __future__ import annotations

import operator
from datetime import timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

#: Every subscription status Stripe has (FACTS.md); a stage naming another is a rule error.
STRIPE_STATUSES = (
    "incomplete", "incomplete_expired", "trialing", "active",
    "past_due", "canceled", "unpaid", "paused",
)

#: The trigger names of PRODUCT.md §4 (`on:`), in the order of its table.
TRIGGERS = (
    "stage_changed", "renewal_due", "trial_ending", "cancellation_scheduled",
    "cancellation_unscheduled", "canceled", "payment_failed", "past_due_for",
    "mrr_expanded", "mrr_contracted", "reactivated",
)
#: Time-based triggers: `within:` is required on these and refused on every other trigger.
#: For `past_due_for` it reads "past due for at least `within`".
TIME_TRIGGERS = frozenset({"renewal_due", "trial_ending", "past_due_for"})
#: Triggers that take `from:` / `to:` (stage names).
STAGE_TRIGGERS = frozenset({"stage_changed"})

GOAL_KINDS = ("renewal", "retention", "expansion", "conversion")
#: PRODUCT.md §8 defaults: renewal grace 3 days; retention/expansion within 90 days;
#: conversion within 30 days to stage `customer`.
GOAL_DEFAULTS: dict[str, dict[str, Any]] = {
    "renewal": {"grace": timedelta(days=3)},
    "retention": {"within": timedelta(days=90)},
    "expansion": {"within": timedelta(days=90)},
    "conversion": {"within": timedelta(days=30), "to": "customer"},
}

COMPARISON_OPS = ("==", "!=", "<=", ">=", "<", ">")
_OPERATORS = {"==": operator.eq, "!=": operator.ne, "<=": operator.le,
              ">=": operator.ge, "<": operator.lt, ">": operator.gt}

#: Contact traits a destination may push (`destinations.yaml`, `traits:`).
TRAITS = ("stage", "mrr", "renewal_date", "plan", "status")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- stripe.yaml ---------------------------------------------------------------------------

class ContactsConfig(Strict):
    type: Literal["account", "user"] = "account"
    id_metadata_key: str = "account_id"
    create_missing: bool = True


class MrrConfig(Strict):
    preset: Literal["stripe", "chartmogul"] = "stripe"
    currency: str = Field(default="usd", pattern=r"^[a-z]{3}$")
    fx_rates: dict[str, Decimal] = Field(default_factory=dict)  # 1 unit of X in `currency`


class AccountConfig(Strict):
    """One Stripe account of `stripe.yaml` `accounts:` (issue #18 point 6). The key and the
    webhook secret come from `${VARIABLES}`; `api_base` None means STRIPE_API_BASE."""

    name: str
    api_key: SecretStr
    api_base: str | None = None
    webhook_secret: SecretStr | None = None


class SourceConfig(Strict):
    """`stripe.yaml`: how Stripe customers map to contacts, and how MRR is counted."""

    contacts: ContactsConfig = ContactsConfig()
    mrr: MrrConfig = MrrConfig()


# --- stages.yaml ---------------------------------------------------------------------------

class StageDef(Strict):
    status: list[str]


class StagesConfig(Strict):
    """`stages.yaml`: stage name → statuses, and the precedence that picks one per contact.

    The loader guarantees every status is in STRIPE_STATUSES and that `precedence` lists
    every stage exactly once (when a file leaves `precedence` out, it is the stages' order).
    """

    stages: dict[str, StageDef] = Field(default_factory=dict)
    precedence: list[str] = Field(default_factory=list)


# --- automations ---------------------------------------------------------------------------

class Comparison(Strict):
    """`mrr: ">= 100"`: `value` in major units of the reporting currency, exact."""

    op: Literal["==", "!=", "<=", ">=", "<", ">"]
    value: Decimal

    def holds(self, amount: Decimal) -> bool:
        """Whether `amount` (major units, e.g. Decimal('150.00')) satisfies the comparison."""
        return _OPERATORS[self.op](amount, self.value)


#: Billing intervals an `interval:` condition may name (Stripe's `recurring.interval`).
INTERVALS = ("day", "week", "month", "year")


def interval_token(interval: str) -> str:
    """How a subscription's billing interval appears among its `plans` (for matching)."""
    return f"interval:{interval}"


class Conditions(Strict):
    """`if:` — all present conditions must hold; None/empty means "no condition".

    `stage`: the contact's stage is one of these. `mrr`: the contact's MRR (major units of the
    reporting currency) compares true. `plan`: any subscription has one of these price lookup
    keys, product names or price ids. `metadata`: for each key, the Stripe customer metadata
    value is one of the listed strings.
    """

    stage: tuple[str, ...] | None = None
    mrr: Comparison | None = None
    plan: tuple[str, ...] | None = None
    interval: tuple[str, ...] | None = None  # any subscription billed by one of these intervals
    metadata: dict[str, tuple[str, ...]] = Field(default_factory=dict)


class ActionSpec(Strict):
    """One entry of `do:`: the handler name, its validated (still unrendered) params, its line."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    handler: str
    params: Any  # an instance of actions.registry.get_handler(handler).Params
    line: int
    file: str = ""


class Goal(Strict):
    """`goal:` (PRODUCT.md §8). Defaults from GOAL_DEFAULTS are filled in by the loader.

    `grace` is used by `renewal` only (window ends at renewal date + grace); `within` by
    retention/expansion/conversion (window ends at firing + within); `to` by conversion only
    (None for the other kinds).
    """

    kind: Literal["renewal", "retention", "expansion", "conversion"]
    grace: timedelta = timedelta(days=3)
    within: timedelta = timedelta(days=90)
    to: str | None = None


class Automation(Strict):
    """One automation of `automations:`.

    `on` is a name from TRIGGERS. `within` is set exactly when `on` is in TIME_TRIGGERS.
    `from_`/`to` (stage names) only for `stage_changed`; None means "any". `holdout` is the
    control share as a fraction 0..1 (`10%` → Decimal('0.1')). `file`/`line` locate the
    automation's `name:` for messages.
    """

    name: str
    on: str
    description: str = ""
    within: timedelta | None = None
    from_: tuple[str, ...] | None = None
    to: tuple[str, ...] | None = None
    conditions: Conditions = Conditions()
    actions: tuple[ActionSpec, ...] = ()
    goal: Goal | None = None
    holdout: Decimal = Decimal(0)
    #: At its first evaluation, also fire for contacts already in the state its trigger
    #: describes (a stage, a scheduled cancellation, a failed payment, a cancellation).
    apply_to_existing: bool = False
    file: str = ""
    line: int = 0


# --- destinations ---------------------------------------------------------------------------

class Destination(Strict):
    """One entry of `destinations:`: a handler, its params and the traits it receives."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    handler: str
    params: Any  # an instance of the handler's Params
    traits: tuple[str, ...] = TRAITS
    file: str = ""
    line: int = 0


class RuleSet(Strict):
    """Everything in RULES_DIR, validated. `files` are the file names read (relative, sorted)."""

    source: SourceConfig = SourceConfig()
    stages: StagesConfig = StagesConfig()
    automations: tuple[Automation, ...] = ()
    destinations: tuple[Destination, ...] = ()
    files: tuple[str, ...] = ()
    accounts: tuple[AccountConfig, ...] = ()  # empty: the one account `default` of the settings

    def automation(self, name: str) -> Automation | None:
        return next((a for a in self.automations if a.name == name), None)
