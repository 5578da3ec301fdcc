"""Trigger occurrences from a contact's previous and new snapshot and `now` (pure core).

`occurrences(prev, new, now, settings, baseline=...)` returns every occurrence of the triggers
of PRODUCT.md §4 with its once-per key (see `worker.core.occurrences`). Three families:

- **time-based** (`renewal_due`, `trial_ending`, `past_due_for`) are read from the new
  snapshot and `now` alone, on every evaluation (the scheduler's pass and every change). They
  carry `seconds_until` / `seconds_since`; whether that lies inside an automation's `within`
  is decided by the matcher, because `within` belongs to the automation. `settings.horizons`
  (the longest `within` for renewal/trial, the shortest for past_due_for, over all loaded
  automations) only drops occurrences no automation could match, so nothing is posted in vain.
- **cancellations** (`cancellation_scheduled`, `cancellation_unscheduled`) fire when the
  schedule appears, moves or is undone; a schedule in the past is not "scheduled".
- **changes** (`stage_changed`, `canceled`, `payment_failed`, `mrr_expanded`,
  `mrr_contracted`, `reactivated`) diff `prev` against `new`. The first full backfill
  (`baseline=True`) fires none of them: those contacts were found, not changed.

Keys never contain `now`: re-diffing the same pair of snapshots (a retry, two evaluators at
once) yields the same keys. Change keys carry a history marker — the snapshot's `changed_at`
when the builder sets it, else a digest of the new snapshot — so a later identical change
(customer → churn → customer → churn) gets a new key and fires again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from worker.core.money import FxTable, exponent, round_minor
from worker.core.occurrences import Occurrence, occurrence_from, whole_seconds
from worker.core.snapshot import ContactSnapshot, SubscriptionSnapshot, iso

_UTC = UTC

FAILED_STATUSES = frozenset({"past_due", "unpaid"})
#: renewal/trial windows reach forward from now (longest wins); past_due_for is "at least".
_FORWARD = ("renewal_due", "trial_ending")


@dataclass(frozen=True)
class TriggerSettings:
    """What triggers need from the rules: FX, which stages mean churn/customer, horizons."""

    fx: FxTable
    churn_stages: frozenset[str] = frozenset({"churn"})
    customer_stages: frozenset[str] = frozenset({"customer"})
    #: time trigger → horizon; None = emit every time-based occurrence (no pre-filter);
    #: a time trigger missing from the mapping has no automation and emits nothing.
    horizons: Mapping[str, timedelta] | None = None

    @classmethod
    def from_rules(cls, rules) -> TriggerSettings:
        """Churn stages list `canceled`; customer stages list `active` (the shipped names)."""
        stages = rules.stages.stages
        churn = frozenset(n for n, d in stages.items() if "canceled" in d.status)
        customer = frozenset(n for n, d in stages.items() if "active" in d.status)
        return cls(
            fx=FxTable.from_config(rules.source.mrr),
            churn_stages=churn or frozenset({"churn"}),
            customer_stages=customer or frozenset({"customer"}),
            horizons=horizons_for(rules.automations),
        )


def horizons_for(automations: Iterable) -> dict[str, timedelta]:
    """Per time trigger: the longest `within` (renewal/trial), the shortest (past_due_for)."""
    found: dict[str, timedelta] = {}
    for automation in automations:
        if automation.within is None or automation.on not in (*_FORWARD, "past_due_for"):
            continue
        current = found.get(automation.on)
        if current is None:
            found[automation.on] = automation.within
        elif automation.on in _FORWARD:
            found[automation.on] = max(current, automation.within)
        else:
            found[automation.on] = min(current, automation.within)
    return found


def occurrences(
    prev: ContactSnapshot | None,
    new: ContactSnapshot,
    now: datetime,
    settings: TriggerSettings,
    *,
    baseline: bool = False,
) -> list[Occurrence]:
    """Every trigger occurrence of one contact as of `now` (tz-aware UTC)."""
    if new.contact_id is None:  # an unlinked Stripe customer: no contact, no automation
        return []
    found = _time_based(new, now, settings)
    if prev is not new:  # a contact diffed against itself (unchanged, in evaluate) has no change
        found += _cancellations(prev, new, now)
        if not baseline:
            found += _stage_changes(prev, new, settings)
            found += _subscription_changes(prev, new)
            found += _mrr_changes(prev, new, settings)
    if not found:
        return []
    base = _contact_base(new, settings)
    subs = {s.id: s for s in new.subscriptions}
    return [_finish(base, spec, subs) for spec in found]


def existing_state(new: ContactSnapshot, now: datetime, settings: TriggerSettings,
                   triggers: frozenset[str]) -> list[Occurrence]:
    """Occurrences describing the state a contact is already in, for automations with
    `apply_to_existing` at their first evaluation: its stage (as `stage_changed` from none),
    cancellations still scheduled, subscriptions canceled or in a failed payment. Keys are
    those a live change would have produced where one exists, so nothing fires twice."""
    if new.contact_id is None:
        return []
    found: list[dict] = []
    if "stage_changed" in triggers and new.stage is not None:
        found.append({"trigger": "stage_changed", "from_stage": None, "to_stage": new.stage,
                      "key": f"stage_changed:{new.contact_id}:->{new.stage}@existing"})
    if "cancellation_scheduled" in triggers:
        found += [o for o in _cancellations(None, new, now) if o["trigger"] == "cancellation_scheduled"]
    for sub in new.subscriptions:
        if "canceled" in triggers and sub.status == "canceled":
            found.append({"trigger": "canceled", "subscription_id": sub.id, "key": f"canceled:{sub.id}"})
        if "payment_failed" in triggers and sub.status in FAILED_STATUSES:
            episode = _iso(sub.status_since) or _marker(new)
            found.append({"trigger": "payment_failed", "subscription_id": sub.id,
                          "key": f"payment_failed:{sub.id}:{episode}", "since": sub.status_since})
    if not found:
        return []
    base = _contact_base(new, settings)
    subs = {s.id: s for s in new.subscriptions}
    return [_finish(base, spec, subs) for spec in found]


# --- hot-path helpers ---------------------------------------------------------------------
# `occurrences` runs for every contact on every pass (every 15 minutes), so these replace a
# few general helpers with exact equivalents that skip their slow paths.

def _iso(value: datetime | None) -> str | None:
    """`snapshot.iso` without `strftime` (its cost dominated key building); same text."""
    if value is None:
        return None
    if value.tzinfo is not _UTC:
        value = value.astimezone(_UTC)
    if value.year < 1000:  # strftime does not pad such years; never in Stripe data
        return iso(value)
    return value.replace(microsecond=0, tzinfo=None).isoformat() + "Z"


_HORIZON_SECONDS: dict[timedelta, tuple[int, int]] = {}


def _horizon_seconds(horizon: timedelta) -> tuple[int, int]:
    """(floor, ceil) of `horizon` in seconds: whole `seconds` ≤ horizon ⟺ ≤ floor, ≥ ⟺ ≥ ceil."""
    found = _HORIZON_SECONDS.get(horizon)
    if found is None:
        micros = (horizon.days * 86_400 + horizon.seconds) * 1_000_000 + horizon.microseconds
        found = _HORIZON_SECONDS[horizon] = (micros // 1_000_000, -(-micros // 1_000_000))
    return found


# --- time-based --------------------------------------------------------------------------

def _in_horizon(trigger: str, seconds: int, settings: TriggerSettings) -> bool:
    if seconds < 0:
        return False
    if settings.horizons is None:
        return True
    horizon = settings.horizons.get(trigger)
    if horizon is None:
        return False
    floor, ceil = _horizon_seconds(horizon)
    return seconds <= floor if trigger in _FORWARD else seconds >= ceil


def _time_based(new: ContactSnapshot, now: datetime, settings: TriggerSettings) -> list[dict]:
    found: list[dict] = []
    if new.renewal_date is not None:
        seconds = whole_seconds(new.renewal_date, now)
        if _in_horizon("renewal_due", seconds, settings):
            sub = next((s.id for s in new.subscriptions if s.renewal_date == new.renewal_date), None)
            found.append({"trigger": "renewal_due", "subscription_id": sub,
                          "key": f"renewal_due:{new.contact_id}:{_iso(new.renewal_date)}",
                          "due_at": new.renewal_date, "seconds_until": seconds})
    for sub in new.subscriptions:
        if sub.status == "trialing" and sub.trial_end is not None:
            seconds = whole_seconds(sub.trial_end, now)
            if _in_horizon("trial_ending", seconds, settings):
                found.append({"trigger": "trial_ending", "subscription_id": sub.id,
                              "key": f"trial_ending:{sub.id}:{_iso(sub.trial_end)}",
                              "due_at": sub.trial_end, "seconds_until": seconds})
        if sub.status == "past_due" and sub.status_since is not None:
            seconds = whole_seconds(now, sub.status_since)
            if _in_horizon("past_due_for", seconds, settings):
                found.append({"trigger": "past_due_for", "subscription_id": sub.id,
                              "key": f"past_due_for:{sub.id}:{_iso(sub.status_since)}",
                              "since": sub.status_since, "seconds_since": seconds})
    return found


# --- cancellations -----------------------------------------------------------------------

def _schedule(sub: SubscriptionSnapshot | None) -> tuple[bool, datetime | None]:
    """(scheduled?, date): `cancel_at`, else the period end for `cancel_at_period_end`."""
    if sub is None or sub.status == "canceled":
        return False, None
    if sub.cancel_at is not None:
        return True, sub.cancel_at
    if sub.cancel_at_period_end:
        return True, sub.current_period_end or sub.renewal_date
    return False, None


def _cancellations(prev: ContactSnapshot | None, new: ContactSnapshot, now: datetime) -> list[dict]:
    before = {s.id: s for s in prev.subscriptions} if prev else {}
    found: list[dict] = []
    for sub in new.subscriptions:
        scheduled, date = _schedule(sub)
        was_scheduled, old_date = _schedule(before.get(sub.id))
        if scheduled and (not was_scheduled or old_date != date) and (date is None or date > now):
            found.append({"trigger": "cancellation_scheduled", "subscription_id": sub.id,
                          "key": f"cancellation_scheduled:{sub.id}:{_iso(date) or 'period-end'}",
                          "due_at": date,
                          "seconds_until": None if date is None else whole_seconds(date, now)})
        elif was_scheduled and not scheduled and sub.status != "canceled":
            marker = _marker(new)
            found.append({"trigger": "cancellation_unscheduled", "subscription_id": sub.id,
                          "key": f"cancellation_unscheduled:{sub.id}:{_iso(old_date) or 'period-end'}@{marker}",
                          "due_at": old_date})
    return found


# --- changes -----------------------------------------------------------------------------

def _stage_changes(prev: ContactSnapshot | None, new: ContactSnapshot,
                   settings: TriggerSettings) -> list[dict]:
    before = prev.stage if prev is not None else None
    if before == new.stage:
        return []
    marker = _marker(new)
    found = [{"trigger": "stage_changed", "from_stage": before, "to_stage": new.stage,
              "key": f"stage_changed:{new.contact_id}:{before or ''}->{new.stage or ''}@{marker}"}]
    if before in settings.churn_stages and new.stage in settings.customer_stages:
        found.append({"trigger": "reactivated", "from_stage": before, "to_stage": new.stage,
                      "key": f"reactivated:{new.contact_id}:@{marker}"})
    return found


def _subscription_changes(prev: ContactSnapshot | None, new: ContactSnapshot) -> list[dict]:
    """`canceled` and `payment_failed` need the subscription seen before in another status."""
    before = {s.id: s for s in prev.subscriptions} if prev else {}
    found: list[dict] = []
    for sub in new.subscriptions:
        old = before.get(sub.id)
        if old is None or old.status == sub.status:
            continue
        if sub.status == "canceled":
            found.append({"trigger": "canceled", "subscription_id": sub.id,
                          "key": f"canceled:{sub.id}"})
        elif sub.status in FAILED_STATUSES and old.status not in FAILED_STATUSES:
            episode = _iso(sub.status_since) or _marker(new)
            found.append({"trigger": "payment_failed", "subscription_id": sub.id,
                          "key": f"payment_failed:{sub.id}:{episode}", "since": sub.status_since})
    return found


def _mrr_changes(prev: ContactSnapshot | None, new: ContactSnapshot,
                 settings: TriggerSettings) -> list[dict]:
    """Both sides at today's rates, so a move of the FX rates alone is no change."""
    if prev is not None and _native(prev) == _native(new):
        return []
    after = _reporting(new, settings.fx)
    before = _reporting(prev, settings.fx) if prev else 0
    if after == before:
        return []
    trigger = "mrr_expanded" if after > before else "mrr_contracted"
    return [{"trigger": trigger, "previous_mrr": _major(round_minor(before), settings.fx),
             "key": f"{trigger}:{new.contact_id}:@{_marker(new)}"}]


# --- shared ------------------------------------------------------------------------------

def _native(snapshot: ContactSnapshot) -> Mapping[str, int]:
    return snapshot.mrr_native or {snapshot.currency: snapshot.mrr_minor}


def _reporting(snapshot: ContactSnapshot, fx: FxTable) -> Fraction | int:
    """Exact MRR in the reporting currency's minor unit at today's rates."""
    native = _native(snapshot)
    if len(native) == 1 and fx.currency in native:
        return native[fx.currency]
    return fx.value(native, subject=f"contact {snapshot.contact_id}")


_MAJOR: dict[tuple[int, str], Decimal] = {}


def _major(minor: int, fx: FxTable) -> Decimal:
    """Minor units → a Decimal in major units; cached, as a few price points recur (bounded)."""
    found = _MAJOR.get((minor, fx.currency))
    if found is None:
        if len(_MAJOR) >= 4096:
            _MAJOR.clear()
        found = _MAJOR[(minor, fx.currency)] = Decimal(minor).scaleb(-exponent(fx.currency))
    return found


def _marker(snapshot: ContactSnapshot) -> str:
    """The history marker of a change: `changed_at`, else a digest of the whole snapshot."""
    if snapshot.changed_at is not None:
        return _iso(snapshot.changed_at) or ""
    text = json.dumps(snapshot.to_state(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _contact_base(new: ContactSnapshot, settings: TriggerSettings) -> dict:
    """The fields every occurrence of this contact shares."""
    reporting = _reporting(new, settings.fx)
    mrr = reporting if type(reporting) is int else round_minor(Fraction(reporting))
    subscriptions = new.subscriptions
    if len(subscriptions) == 1 and len(subscriptions[0].plans) <= 1:  # the common case
        plans = tuple(subscriptions[0].plans)
    else:
        plans = tuple(dict.fromkeys(p for s in subscriptions for p in s.plans))
    return {"contact_id": new.contact_id or "", "stage": new.stage,
            "mrr": _major(mrr, settings.fx), "plans": plans, "metadata": dict(new.metadata)}


def _finish(base: dict, spec: dict, subs: Mapping[str, SubscriptionSnapshot]) -> Occurrence:
    """Contact-level triggers see every plan; a subscription's trigger sees that one's plans."""
    sub = subs.get(spec.get("subscription_id") or "")
    fields = {**base, **spec}
    if sub is not None and spec["trigger"] != "renewal_due":
        fields["plans"] = sub.plans
    return occurrence_from(fields)
