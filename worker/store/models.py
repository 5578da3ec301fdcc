"""The data model. The database is the source of truth; queue messages carry only ids.

Groups:
  contacts & Stripe mirror   Contact, StripeCustomer, StripeSubscription, SubscriptionItem,
                             StripePrice, StripeProduct — the mirror stores Stripe's own JSON
                             (`raw`, normalised: nested lists complete, prices with tiers,
                             discounts with coupons) plus the columns queries need.
  sync bookkeeping           SyncState (cursor, resume points, last runs), Quarantine,
                             StripeInvoice (subscription invoices read for history)
  computed state & history   ContactState (latest snapshot, the "previous" for diffs),
                             ContactHistory, SubscriptionHistory (each change at Stripe's time)
  automations                Firing (unique per automation × contact × occurrence: the outbox),
                             Delivery (one row per action or destination push), Outcome
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from worker.store.types import BigId, JSONType, UTCDateTime

Json = dict[str, Any]


# Widened in revision 0002 to what Stripe allows (issue 15): metadata values (contact ids) up
# to 500 characters, emails up to 512; Stripe object ids stay String(255), Stripe's limit.
CONTACT_ID_LENGTH = 500
EMAIL_LENGTH = 512
OCCURRENCE_LENGTH = 1024
# Stripe accounts (issue #18 point 6, rules/stripe.yaml `accounts:`): every mirror row, sync
# state key and quarantine entry belongs to one; ids are unique only within an account.
ACCOUNT_LENGTH = 32
DEFAULT_ACCOUNT = "default"


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), Json: JSONType}


# --- contacts and the Stripe mirror -------------------------------------------------------


class Contact(Base):
    """One of the company's own contacts: an account (company) or a user (person)."""

    __tablename__ = "contacts"
    # a contact id is a Stripe metadata value (up to 500 characters), never truncated
    id: Mapped[str] = mapped_column(String(CONTACT_ID_LENGTH), primary_key=True)
    type: Mapped[str] = mapped_column(String(16))  # account | user
    name: Mapped[str | None] = mapped_column(String(500))
    email: Mapped[str | None] = mapped_column(String(EMAIL_LENGTH))
    source: Mapped[str] = mapped_column(String(16))  # stripe | import
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class StripeCustomer(Base):
    __tablename__ = "stripe_customers"
    # customer → contact without reading the wide rows (the console's at-risk view, search).
    __table_args__ = (Index("ix_stripe_customers_id_contact", "id", "contact_id"),)
    account: Mapped[str] = mapped_column(String(ACCOUNT_LENGTH), primary_key=True, server_default=DEFAULT_ACCOUNT)
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    contact_id: Mapped[str | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(500))
    email: Mapped[str | None] = mapped_column(String(EMAIL_LENGTH))
    metadata_: Mapped[Json] = mapped_column("metadata", default=dict)
    currency: Mapped[str | None] = mapped_column(String(3))
    livemode: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime | None]
    raw: Mapped[Json]
    synced_at: Mapped[datetime]
    changed_at: Mapped[datetime | None]  # Stripe's time of the last applied change
    # The sync stamp of the last write that changed the row (a sync that only saw it unchanged
    # moves synced_at, not this): what decides whether its contact is recomputed.
    written_at: Mapped[datetime | None]


#: The partial index's condition; worker.console.accounts queries with the same predicate.
SCHEDULED_CANCEL_SQL = "NOT deleted AND (cancel_at_period_end OR cancel_at IS NOT NULL)"


class StripeSubscription(Base):
    __tablename__ = "stripe_subscriptions"
    # The console's at-risk view: subscriptions with a cancellation scheduled (few of them).
    __table_args__ = (Index("ix_stripe_subscriptions_cancel_scheduled", "customer_id", "status",
                            postgresql_where=text(SCHEDULED_CANCEL_SQL), sqlite_where=text(SCHEDULED_CANCEL_SQL)),
                      Index("ix_stripe_subscriptions_status_customer", "status", "customer_id",
                            postgresql_where=text("NOT deleted"), sqlite_where=text("NOT deleted")))
    account: Mapped[str] = mapped_column(String(ACCOUNT_LENGTH), primary_key=True, server_default=DEFAULT_ACCOUNT)
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(255), index=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    api_shape: Mapped[str] = mapped_column(String(16))  # current | legacy
    cancel_at: Mapped[datetime | None]
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    canceled_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    trial_start: Mapped[datetime | None]
    trial_end: Mapped[datetime | None]
    current_period_end: Mapped[datetime | None]  # earliest item period end (or legacy)
    created: Mapped[datetime | None]
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    raw: Mapped[Json]
    synced_at: Mapped[datetime]
    changed_at: Mapped[datetime | None]
    written_at: Mapped[datetime | None]  # as StripeCustomer.written_at


class SubscriptionItem(Base):
    """The columns queries need of one item. Its JSON is not kept here: the complete item
    (full price, discounts) is in its subscription's `raw["items"]["data"]`, and storing it
    twice cost a third of every backfill's writes."""

    __tablename__ = "subscription_items"
    account: Mapped[str] = mapped_column(String(ACCOUNT_LENGTH), primary_key=True, server_default=DEFAULT_ACCOUNT)
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(String(255), index=True)
    price_id: Mapped[str | None] = mapped_column(String(255), index=True)
    product_id: Mapped[str | None] = mapped_column(String(255))
    quantity: Mapped[int | None] = mapped_column(BigInteger)
    current_period_start: Mapped[datetime | None]
    current_period_end: Mapped[datetime | None]


class StripePrice(Base):
    __tablename__ = "stripe_prices"
    account: Mapped[str] = mapped_column(String(ACCOUNT_LENGTH), primary_key=True, server_default=DEFAULT_ACCOUNT)
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    product_id: Mapped[str | None] = mapped_column(String(255), index=True)
    lookup_key: Mapped[str | None] = mapped_column(String(255), index=True)
    currency: Mapped[str | None] = mapped_column(String(3))
    raw: Mapped[Json]
    synced_at: Mapped[datetime]


class StripeProduct(Base):
    __tablename__ = "stripe_products"
    account: Mapped[str] = mapped_column(String(ACCOUNT_LENGTH), primary_key=True, server_default=DEFAULT_ACCOUNT)
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(500))
    raw: Mapped[Json]
    synced_at: Mapped[datetime]


# --- sync bookkeeping ---------------------------------------------------------------------


class SyncState(Base):
    """Small named values: the events cursor, backfill resume points, last run times."""

    __tablename__ = "sync_state"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Json]
    updated_at: Mapped[datetime]


class AppliedEvent(Base):
    """A Stripe event a webhook re-fetch already applied (read the object after the event
    arrived): the next poll drops it instead of re-fetching the object for it a second time
    (worker.sync.applied). Kept a day, pruned by the poll."""

    __tablename__ = "applied_events"
    __table_args__ = (Index("ix_applied_events_applied_at", "applied_at"),)
    account: Mapped[str] = mapped_column(String(ACCOUNT_LENGTH), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str] = mapped_column(String(255))
    applied_at: Mapped[datetime]


class Quarantine(Base):
    """A Stripe object that could not be read; kept (secrets redacted) until it syncs cleanly."""

    __tablename__ = "quarantine"
    __table_args__ = (UniqueConstraint("account", "object_type", "object_id", name="uq_quarantine_object"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(ACCOUNT_LENGTH), default=DEFAULT_ACCOUNT,
                                         server_default=DEFAULT_ACCOUNT)
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[Json | None]
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    count: Mapped[int] = mapped_column(Integer, default=1)
    resolved_at: Mapped[datetime | None]


# --- computed state and history -----------------------------------------------------------


class ContactState(Base):
    """A contact's latest computed snapshot: the 'previous' side of the next diff."""

    __tablename__ = "contact_state"
    # The console's totals, stage filter and MRR sort read only these columns: a narrow index
    # lets them skip the wide rows (the snapshot JSON) — index-only scans on PostgreSQL.
    __table_args__ = (Index("ix_contact_state_console", "stage", "currency", "mrr_minor", "renewal_date",
                            "contact_id"),
                      Index("ix_contact_state_renewal", "renewal_date", "contact_id"),
                      # Sort by MRR in the reporting currency (worker.compute.mrr_sort), with or
                      # without a stage filter, and find rows computed with other FX rates.
                      # (descending ones below the class keep contact_id ascending: the tie-break;
                      # renewal_date last: the at-risk view's page is an index-only scan)
                      Index("ix_contact_state_mrr_sort", "mrr_sort", "contact_id", "renewal_date"),
                      Index("ix_contact_state_mrr_fx", "mrr_fx"))
    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id"), primary_key=True)
    stage: Mapped[str | None] = mapped_column(String(64), index=True)
    mrr_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    renewal_date: Mapped[datetime | None]
    # MRR in the reporting currency (for ordering only) and the digest of the FX rates it was
    # computed with: worker.compute.mrr_sort refreshes rows whose rates are not the current ones.
    mrr_sort: Mapped[Decimal | None] = mapped_column(Numeric(38, 12))
    mrr_fx: Mapped[str | None] = mapped_column(String(16))
    snapshot: Mapped[Json]  # the full core snapshot, as worker.core serialises it
    computed_at: Mapped[datetime]
    # What the snapshot was computed from (worker.compute.dirty): a digest of the contact's
    # mirror rows, and when time alone changes it next (a discount starting or ending).
    # An evaluation pass recomputes only contacts whose digest differs or whose time is due.
    mirror_key: Mapped[str | None] = mapped_column(String(64))
    recompute_at: Mapped[datetime | None] = mapped_column(index=True)


Index("ix_contact_state_mrr_sort_desc", ContactState.mrr_sort.desc(), ContactState.contact_id,
      ContactState.renewal_date)
Index("ix_contact_state_stage_mrr_sort_desc", ContactState.stage, ContactState.mrr_sort.desc(), ContactState.contact_id,
      ContactState.renewal_date)


#: Trigram (pg_trgm GIN) indexes for the console's substring search, made by migration
#: 0007_console_speed on PostgreSQL only when the extension can be created: optional by design,
#: so they are not part of the models (the schema check leaves them out).
OPTIONAL_INDEXES = ("ix_contacts_name_trgm", "ix_contacts_email_trgm")
#: PostgreSQL-only indexes (migration 0010_contact_id_prefix: contact id prefix search through
#: a `varchar_pattern_ops` btree), not part of the models either.
POSTGRESQL_INDEXES = ("ix_contacts_id_prefix",)


class ContactTime(Base):
    """One date of a contact's stored snapshot that a time-based trigger reads (renewal date,
    a trialing subscription's trial end, a past-due subscription's `status_since`), indexed so
    a pass finds the contacts whose dates enter a trigger's window without reading everyone.
    Rewritten with the snapshot (worker.compute.times)."""

    __tablename__ = "contact_times"
    __table_args__ = (Index("ix_contact_times_trigger_at", "trigger", "at"),)
    contact_id: Mapped[str] = mapped_column(String(CONTACT_ID_LENGTH), ForeignKey("contacts.id"), primary_key=True)
    trigger: Mapped[str] = mapped_column(String(32), primary_key=True)
    at: Mapped[datetime] = mapped_column(primary_key=True)


class EvaluationQueue(Base):
    """Contacts a sync or re-fetch changed and no evaluation pass has looked at yet: many
    changes in a short window are one pass over their contacts (worker.automations.scope)."""

    __tablename__ = "evaluation_queue"
    contact_id: Mapped[str] = mapped_column(String(CONTACT_ID_LENGTH), primary_key=True)
    queued_at: Mapped[datetime]


class ContactHistory(Base):
    """One row each time a contact's stage, MRR or renewal date changes."""

    __tablename__ = "contact_history"
    __table_args__ = (Index("ix_contact_history_contact_at", "contact_id", "at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id"))
    at: Mapped[datetime] = mapped_column(index=True)  # Stripe's event time, else observed
    observed_at: Mapped[datetime]
    stage: Mapped[str | None] = mapped_column(String(64))
    mrr_minor: Mapped[int] = mapped_column(BigInteger)  # in `currency`
    currency: Mapped[str] = mapped_column(String(3))
    mrr_native: Mapped[Json]  # {currency: minor} before FX, so FX-only moves can be told apart
    renewal_date: Mapped[datetime | None]
    cause: Mapped[str | None] = mapped_column(String(128))
    # `observed` (computed from the mirror as it was synced) or `reconstructed` (rebuilt from
    # Stripe's subscription dates and invoices at the first sync: worker.compute.reconstruct).
    source: Mapped[str] = mapped_column(String(16), default="observed", server_default="observed")


class SubscriptionHistory(Base):
    """One row each time a subscription's status, period end, cancellation or MRR changes."""

    __tablename__ = "subscription_history"
    __table_args__ = (Index("ix_subscription_history_sub_at", "subscription_id", "at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(String(255))
    contact_id: Mapped[str | None] = mapped_column(String(CONTACT_ID_LENGTH), index=True)
    at: Mapped[datetime]
    observed_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(32))
    current_period_end: Mapped[datetime | None]
    renewal_date: Mapped[datetime | None]
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    cancel_at: Mapped[datetime | None]
    mrr_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    source: Mapped[str] = mapped_column(String(16), default="observed", server_default="observed")


class StripeInvoice(Base):
    """A subscription invoice read for history (worker.sync.history): Stripe's JSON, complete
    (every line), plus the columns the reconstruction groups by."""

    __tablename__ = "stripe_invoices"
    account: Mapped[str] = mapped_column(String(ACCOUNT_LENGTH), primary_key=True, server_default=DEFAULT_ACCOUNT)
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    subscription_id: Mapped[str | None] = mapped_column(String(255), index=True)
    customer_id: Mapped[str | None] = mapped_column(String(255))
    created: Mapped[datetime]
    status: Mapped[str | None] = mapped_column(String(32))
    raw: Mapped[Json]
    synced_at: Mapped[datetime]


# --- automations: firings (outbox), deliveries, outcomes ----------------------------------


class Firing(Base):
    """One automation firing for one contact and occurrence, written before any action runs."""

    __tablename__ = "firings"
    __table_args__ = (UniqueConstraint("automation", "contact_id", "occurrence", name="uq_firing_once"),
                      Index("ix_firings_occurrence", "occurrence"))
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    automation: Mapped[str] = mapped_column(String(255), index=True)
    contact_id: Mapped[str] = mapped_column(String(CONTACT_ID_LENGTH), index=True)
    occurrence: Mapped[str] = mapped_column(String(OCCURRENCE_LENGTH))  # may hold a contact id
    trigger: Mapped[str] = mapped_column(String(64))
    subscription_id: Mapped[str | None] = mapped_column(String(255))
    arm: Mapped[str] = mapped_column(String(16))  # treated | holdout
    fired_at: Mapped[datetime] = mapped_column(index=True)
    stage: Mapped[str | None] = mapped_column(String(64))
    mrr_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    renewal_date: Mapped[datetime | None]
    snapshot: Mapped[Json]  # contact (and subscription) as the templates saw them
    goal: Mapped[Json | None]  # goal kind and parameters at firing time
    # When the goal's window ends (fixed at firing: worker.automations.firing); None when
    # the firing can never be measured (no goal, or a renewal goal with no date to renew past).
    window_end: Mapped[datetime | None] = mapped_column(index=True)


class Delivery(Base):
    """One action of a firing, or one destination push; delivered at least once, keyed."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_due", "state", "next_attempt_at"),
                      Index("ix_deliveries_state_id", "state", "id"))  # the console's pages
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    firing_id: Mapped[int | None] = mapped_column(ForeignKey("firings.id"), index=True)
    contact_id: Mapped[str] = mapped_column(String(CONTACT_ID_LENGTH), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # action | destination
    handler: Mapped[str] = mapped_column(String(64))  # webhook, slack, email, …
    target: Mapped[str] = mapped_column(String(255))  # automation#index or destination#index
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    payload: Mapped[Json]  # what to send, without secrets (those are resolved at send time)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending|retrying|delivered|dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    enqueued_at: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]  # a worker holds the row until then (no double sends)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]


class Outcome(Base):
    """The measured result of one firing once its goal window has ended."""

    __tablename__ = "outcomes"
    firing_id: Mapped[int] = mapped_column(ForeignKey("firings.id"), primary_key=True)
    goal: Mapped[str] = mapped_column(String(32))
    window_end: Mapped[datetime]
    measured_at: Mapped[datetime]
    succeeded: Mapped[bool] = mapped_column(Boolean)
    mrr_at_fire_minor: Mapped[int] = mapped_column(BigInteger)
    mrr_at_end_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    detail: Mapped[Json | None]


# --- the console ----------------------------------------------------------------------------


class AuditEntry(Base):
    """One operator action from the console, the API or the CLI (re-drive, cancel): who, when, what."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(255))  # user name, "token:NAME", "proxy:NAME", "cli:USER"
    action: Mapped[str] = mapped_column(String(64))  # delivery.retry | delivery.cancel
    target: Mapped[str] = mapped_column(String(255))  # e.g. "delivery:42"
    detail: Mapped[Json | None]
