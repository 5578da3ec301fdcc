"""Build the outcomes and revenue report from the store as of `now` (adapter over the pure core).

`build_report(store, rules, *, now, since=None)` reads (never writes): current contact states,
contact history, firings with their outcomes and action deliveries. It returns a `Report`;
`Report.to_json()` is the `report --json` object of PRODUCT.md §8 plus `unlinked` (MRR of
Stripe customers linked to no contact, `worker.report.unlinked`), and the other
fields (revenue retention, trial conversion, stage counts over time, upcoming renewals,
per-arm intervals and NRR) feed the tables and the HTML page.

`since` limits the firings counted (fired at or after it) and the months shown; revenue
retention and trial conversion always cover the trailing 12 months.
"""

from __future__ import annotations

import re

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from worker.core.experiment import Analysis, Effect, analyse, q_values
from worker.core.money import FxTable
from worker.core.movements import months_between
from worker.core.revenue import (
    Retention,
    TrialConversion,
)
from worker.core.snapshot import iso, parse_time
from worker.core.statistics import ArmMrr, arm_mrr, rate, wilson
from worker.errors import ConfigError
from worker.logs import get_logger
from worker.report.experiments import firing_rows, units_by_automation
from worker.report.impact import fixed_horizon_json, mrr_impact_json
from worker.report.unlinked import Unlinked, how_to_link, unlinked_revenue
from worker.report.figures import revenue_figures
from worker.rules.model import RuleSet
from worker.store.db import Store
from worker.store.models import Delivery, Firing, SyncState

ACTION_STATES = ("delivered", "retrying", "dead")


@dataclass
class Arm:
    """One arm of one automation. `fired` counts firings; the rest count CONTACTS (the unit):
    `contacts` assigned in the period, `measured` / `succeeded` by their first firing's outcome,
    `pairs` their (MRR at firing, MRR at window end)."""

    fired: int = 0
    firings_measured: int = 0
    contacts: int = 0
    measured: int = 0
    succeeded: int = 0
    pairs: list[tuple[int, int]] = field(default_factory=list)

    @property
    def mrr(self) -> ArmMrr:
        return arm_mrr(self.pairs)

    @property
    def rate(self) -> float | None:
        return rate(self.succeeded, self.measured)

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson(self.succeeded, self.measured)

    def to_json(self) -> dict[str, Any]:
        mrr = self.mrr
        return {"fired": self.fired, "measured": self.measured, "succeeded": self.succeeded, "rate": self.rate,
                "mrr_at_fire_minor": mrr.at_fire, "mrr_at_end_minor": mrr.at_end, "contacts": self.contacts,
                "firings_measured": self.firings_measured}


@dataclass
class AutomationReport:
    name: str
    goal: str | None
    treated: Arm
    holdout: Arm
    actions: dict[str, int]
    holdout_share: float | None = None
    analysis: Analysis | None = None
    q_value: float | None = None

    @property
    def lift(self) -> Effect | None:
        return self.analysis.lift if self.analysis else None

    @property
    def verdict(self) -> str:
        return self.analysis.verdict if self.analysis else "collecting"

    def to_json(self) -> dict[str, Any]:
        lift, analysis = self.lift, self.analysis
        return {"name": self.name, "goal": self.goal, "treated": self.treated.to_json(),
                "holdout": self.holdout.to_json(), "lift": lift.estimate if lift else None,
                "lift_ci95": list(lift.ci95) if lift else None,
                "p_value": lift.p_value if lift else None, "actions": dict(self.actions),
                "unit": "contact", "contacts": {"treated": self.treated.contacts, "holdout": self.holdout.contacts},
                "verdict": self.verdict, "verdict_reason": analysis.reason if analysis else None,
                "srm_p_value": analysis.srm_p_value if analysis else None, "q_value": self.q_value,
                "holdout_share": self.holdout_share,
                "fixed_horizon": fixed_horizon_json(analysis),
                "mrr_impact": mrr_impact_json(analysis),
                "contacts_needed": analysis.contacts_needed if analysis else None}


@dataclass
class Report:
    generated_at: datetime
    currency: str
    since: datetime | None
    mrr_total: int
    mrr_by_stage: dict[str, int]
    movements: list[dict[str, Any]]
    stages: dict[str, int]
    automations: list[AutomationReport]
    retention: Retention | None
    trial_conversion: TrialConversion
    stage_history: list[dict[str, Any]]
    renewals: list[dict[str, Any]]
    unlinked: Unlinked = field(default_factory=Unlinked)  # customers linked to no contact
    how_to_link: str = ""
    # Opening balances by month (`YYYY-MM` → minor units): MRR contacts already had where the
    # history starts (rebuilt window start, or the baseline when none could be rebuilt). Shown
    # in the tables and the page; not part of PRODUCT.md §8's JSON (and never "new").
    opening: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Exactly the `report --json` object of PRODUCT.md §8."""
        return {
            "generated_at": iso(self.generated_at),
            "currency": self.currency,
            "mrr": {"total_minor": self.mrr_total, "by_stage": dict(self.mrr_by_stage),
                    "movements": [dict(m) for m in self.movements]},
            "stages": dict(self.stages),
            "automations": [a.to_json() for a in self.automations],
            "unlinked": self.unlinked.to_json(),
        }


#: what a report start date may look like (a date, or an ISO 8601 time): checked before use
SINCE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ][0-9:.]{2,15}(?:Z|[+-]\d{2}:?\d{2})?)?")


def parse_since(value: str | None) -> datetime | None:
    """`--since` / `?since=`: a date (midnight UTC) or a full ISO 8601 time; None when absent."""
    if value is None:
        return None
    if not SINCE.fullmatch(value):  # checked first: an arbitrary string never reaches a message
        raise ConfigError("The report start date (since) is not a date.", fix="Use e.g. --since 2026-01-01.")
    try:
        return parse_time(value)
    except ValueError:
        raise ConfigError(f"The report start date (since) {value!r} is not a date.",
                          fix="Use e.g. --since 2026-01-01.") from None


def report_months(now: datetime, since: datetime | None) -> list[str]:
    """The months shown: from `since`'s month (default: 11 months before now's) to now's month."""
    last = now.strftime("%Y-%m")
    if since is not None:
        return months_between(min(since, now).strftime("%Y-%m"), last)
    year, month = now.year, now.month - 11
    if month <= 0:
        year, month = year - 1, month + 12
    return months_between(f"{year:04d}-{month:02d}", last)


log = get_logger("report")


def build_report(store: Store | Session, rules: RuleSet, *, now: datetime, since: datetime | None = None) -> Report:
    """Everything the report shows, as of `now`."""
    if isinstance(store, Session):
        return _build(store, rules, now, since)
    with store.session() as session:
        return _build(session, rules, now, since)


def _build(session: Session, rules: RuleSet, now: datetime, since: datetime | None) -> Report:
    fx = FxTable.from_config(rules.source.mrr)
    trial, customer = _trial_and_customer(rules)
    figures = revenue_figures(session, now=now, months=report_months(now, since), stage_names=list(rules.stages.stages),
                              fx=fx, baseline_at=_baseline_at(session), trial=trial, customer=customer)
    return Report(
        generated_at=now, currency=fx.currency, since=since, mrr_total=figures.mrr_total,
        mrr_by_stage=figures.mrr_by_stage, movements=figures.movements, stages=figures.stages,
        opening=figures.opening, automations=_automations(session, rules, since), retention=figures.retention,
        trial_conversion=figures.trial_conversion, stage_history=figures.stage_history, renewals=figures.renewals,
        unlinked=unlinked_revenue(session, rules, now), how_to_link=how_to_link(rules),
    )


def _baseline_at(session: Session) -> datetime | None:
    """When the baseline evaluation ran: contacts first seen by it are an opening balance.
    The time is stored to the second; its rows were observed within that second."""
    row = session.get(SyncState, "evaluation")
    if row is None or not row.value.get("baseline_at"):
        return None
    return parse_time(row.value["baseline_at"]) + timedelta(seconds=1) - timedelta(microseconds=1)


def _trial_and_customer(rules: RuleSet) -> tuple[frozenset[str], frozenset[str]]:
    stages = rules.stages.stages
    trial = frozenset(n for n, d in stages.items() if "trialing" in d.status) or frozenset({"trial"})
    customer = frozenset(n for n, d in stages.items() if "active" in d.status) or frozenset({"customer"})
    return trial, customer


def _automations(session: Session, rules: RuleSet, since: datetime | None) -> list[AutomationReport]:
    reports: dict[str, AutomationReport] = {}
    for automation in rules.automations:
        reports[automation.name] = _empty(automation.name, automation.goal.kind if automation.goal else None)
        reports[automation.name].holdout_share = float(automation.holdout)
    rows = firing_rows(session)
    for row in rows:
        if since is not None and row.fired_at < since:
            continue
        report = reports.get(row.automation) or reports.setdefault(row.automation, _empty(row.automation, row.goal))
        arm = report.holdout if row.arm == "holdout" else report.treated
        arm.fired += 1
        arm.firings_measured += row.succeeded is not None
    for name, units in units_by_automation(rows, since).items():
        report = reports[name]   # it has firings in the period: its first one
        for unit in units:
            arm = report.holdout if unit.arm == "holdout" else report.treated
            arm.contacts += 1
            if unit.succeeded is not None:
                arm.measured += 1
                arm.succeeded += unit.succeeded
                arm.pairs.append((unit.mrr_at_fire, unit.mrr_at_end))
        report.analysis = analyse(units, report.holdout_share)
    for report, q in zip(reports.values(), q_values([r.lift.p_value if r.lift else None for r in reports.values()]),
                         strict=True):
        report.q_value = q
    for name, state, count in _delivery_counts(session, since):
        if name in reports and state in ACTION_STATES:
            reports[name].actions[state] += count
    return list(reports.values())


def _empty(name: str, goal: str | None) -> AutomationReport:
    return AutomationReport(name, goal, Arm(), Arm(), dict.fromkeys(ACTION_STATES, 0))


def _delivery_counts(session: Session, since: datetime | None) -> list[tuple[str, str, int]]:
    query = (select(Firing.automation, Delivery.state, func.count())
             .join(Firing, Firing.id == Delivery.firing_id)
             .where(Delivery.kind == "action")
             .group_by(Firing.automation, Delivery.state))
    if since is not None:
        query = query.where(Firing.fired_at >= since)
    counted: dict[tuple[str, str], int] = defaultdict(int)
    for name, state, count in session.execute(query):
        counted[(name, state)] += count
    return [(name, state, count) for (name, state), count in counted.items()]
