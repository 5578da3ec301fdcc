"""Why an automation fired or did not for one contact, condition by condition.

The contact's current snapshot (computed as of now) is diffed against the one evaluation
stored last, giving the occurrences evaluation would see now (every time-based one, whatever
its horizon, so "renews in 40 days, `within` is 30" can be said). For each occurrence of the
automation's trigger, each part of the automation is checked as `worker.engine.reference`
defines it; firings already recorded for the contact are listed (an occurrence fires once).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session

from worker.core.money import FxTable
from worker.core.occurrences import Occurrence
from worker.core.snapshot import ContactSnapshot
from worker.core.triggers import TriggerSettings, occurrences
from worker.engine.reference import _COMPARE, holds, within_holds
from worker.store.models import ContactState, Firing


@dataclass
class Check:
    name: str
    holds: bool
    detail: str


@dataclass
class OccurrenceExplained:
    key: str
    checks: list[Check]
    matches: bool
    fired: dict[str, Any] | None  # the firing already recorded for this occurrence, if any


@dataclass
class AutomationExplained:
    automation: str
    trigger: str
    verdict: str
    occurrences: list[OccurrenceExplained] = field(default_factory=list)
    firings: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"automation": self.automation, "on": self.trigger, "verdict": self.verdict,
                "occurrences": [{"key": o.key, "matches": o.matches, "fired": o.fired,
                                 "checks": [c.__dict__ for c in o.checks]} for o in self.occurrences],
                "firings": self.firings}

    def lines(self) -> list[str]:
        out = [f"{self.automation} (on {self.trigger}): {self.verdict}"]
        for occ in self.occurrences:
            out.append(f"  occurrence {occ.key}:")
            out += [f"    [{'x' if c.holds else ' '}] {c.name}: {c.detail}" for c in occ.checks]
        out += [f"  fired {f['fired_at']} arm={f['arm']} occurrence={f['occurrence']}" for f in self.firings]
        return out


def _checks(automation, occ: Occurrence) -> list[Check]:  # noqa: ANN001
    found = [Check("on", True, f"a {occ.trigger} occurrence exists")]
    if automation.within is not None:
        span = occ.seconds_until if occ.seconds_until is not None else occ.seconds_since
        found.append(Check("within", within_holds(automation, occ),
                           f"within {_span(automation.within)}; this occurrence is {_days(span)} away"
                           if occ.seconds_until is not None else
                           f"for at least {_span(automation.within)}; ongoing for {_days(span)}"))
    if automation.from_ is not None:
        found.append(Check("from", occ.from_stage in automation.from_,
                           f"from one of {list(automation.from_)}; was {occ.from_stage!r}"))
    if automation.to is not None:
        found.append(Check("to", occ.to_stage in automation.to, f"to one of {list(automation.to)}; is {occ.to_stage!r}"))
    cond = automation.conditions
    if cond.stage is not None:
        found.append(Check("if stage", occ.stage in cond.stage, f"one of {list(cond.stage)}; is {occ.stage!r}"))
    if cond.mrr is not None:
        found.append(Check("if mrr", _COMPARE[cond.mrr.op](occ.mrr, cond.mrr.value),
                           f"MRR {cond.mrr.op} {cond.mrr.value}; is {occ.mrr}"))
    if cond.plan is not None:
        found.append(Check("if plan", any(p in cond.plan for p in occ.plans),
                           f"any of {list(cond.plan)}; has {list(occ.plans)}"))
    for key, values in cond.metadata.items():
        found.append(Check(f"if metadata.{key}", occ.metadata.get(key) in values,
                           f"one of {list(values)}; is {occ.metadata.get(key)!r}"))
    return found


def _span(span) -> str:  # noqa: ANN001 - a timedelta
    seconds = int(span.total_seconds())
    if seconds % 86400 == 0:
        return f"{seconds // 86400} days"
    return f"{seconds / 3600:g} hours" if seconds % 3600 == 0 else str(span)


def _days(seconds: int | None) -> str:
    if seconds is None:
        return "unknown"
    return f"{seconds / 86400:.1f} days"


def stored_snapshot(session: Session, contact_id: str) -> ContactSnapshot | None:
    text = session.scalar(select(cast(ContactState.snapshot, Text)).where(ContactState.contact_id == contact_id))
    return ContactSnapshot.from_state(json.loads(text)) if text else None


def explain_automations(session: Session, rules, snapshot: ContactSnapshot, *, now: datetime,  # noqa: ANN001
                        names: list[str] | None = None) -> list[AutomationExplained]:
    """One explanation per automation (or those named)."""
    prev = stored_snapshot(session, snapshot.contact_id) if snapshot.contact_id else None
    base = TriggerSettings.from_rules(rules)
    settings = TriggerSettings(fx=FxTable.from_config(rules.source.mrr), churn_stages=base.churn_stages,
                               customer_stages=base.customer_stages, horizons=None)
    found = occurrences(prev, snapshot, now, settings)
    fired_rows = session.scalars(select(Firing).where(Firing.contact_id == snapshot.contact_id)
                                 .order_by(Firing.fired_at.desc()).limit(500)).all()
    result = []
    for automation in rules.automations:
        if names and automation.name not in names:
            continue
        mine = [f for f in fired_rows if f.automation == automation.name]
        firings = [{"fired_at": f.fired_at.isoformat(), "arm": f.arm, "occurrence": f.occurrence, "id": f.id}
                   for f in mine]
        by_key = {f["occurrence"]: f for f in firings}
        explained = []
        for occ in (o for o in found if o.trigger == automation.on):
            explained.append(OccurrenceExplained(occ.key, _checks(automation, occ), holds(automation, occ),
                                                 by_key.get(occ.key)))
        result.append(AutomationExplained(automation.name, automation.on, _verdict(explained, firings),
                                          explained, firings))
    return result


def _verdict(explained: list[OccurrenceExplained], firings: list[dict[str, Any]]) -> str:
    if any(o.matches and o.fired for o in explained):
        return "fired for the current occurrence"
    if any(o.matches for o in explained):
        return "matches now: fires at the next evaluation"
    if explained:
        failed = sorted({c.name for o in explained for c in o.checks if not c.holds})
        return "does not fire: " + ", ".join(failed) + " does not hold"
    tail = f" (fired {len(firings)} time(s) before)" if firings else ""
    return "does not fire: no occurrence of its trigger for this contact now" + tail
