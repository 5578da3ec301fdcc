"""Typed models of the rule files (PRODUCT.md §4). Loading and line numbers: `worker.rules.loader`.

These are the objects the rest of the product receives; they are already validated.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: Every subscription status Stripe has (FACTS.md); a stage naming another is a rule error.
STRIPE_STATUSES = (
    "incomplete", "incomplete_expired", "trialing", "active",
    "past_due", "canceled", "unpaid", "paused",
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ContactsConfig(Strict):
    type: Literal["account", "user"] = "account"
    id_metadata_key: str = "account_id"
    create_missing: bool = True


class MrrConfig(Strict):
    preset: Literal["stripe", "chartmogul"] = "stripe"
    currency: str = Field(default="usd", pattern=r"^[a-z]{3}$")
    fx_rates: dict[str, Decimal] = Field(default_factory=dict)  # 1 unit of X in `currency`


class SourceConfig(Strict):
    """`stripe.yaml`: how Stripe customers map to contacts, and how MRR is counted."""

    contacts: ContactsConfig = ContactsConfig()
    mrr: MrrConfig = MrrConfig()


class StageDef(Strict):
    status: list[str]


class StagesConfig(Strict):
    """`stages.yaml`: stage name → statuses, and the precedence that picks one per contact."""

    stages: dict[str, StageDef] = Field(default_factory=dict)
    precedence: list[str] = Field(default_factory=list)
