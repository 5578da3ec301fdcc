"""The TRUE effects of the demo's automations, beside which the report's measured ones are shown
(wiring over the store and the behaviour's decision log).

The report analyses each contact once per automation, by its FIRST firing (docs/report.md);
the truth is computed on exactly those contacts (first firing, measured).

- **expected**: what the configured effects imply for a typical customer when every measured
  outcome hinges on its decision — renewal reminder `renewal_churn × reminder_effect`,
  cancellation save `save_treated − save_base`.
- **realised**: the counterfactual on the contacts actually measured. Each decision used a
  draw `u` that does not depend on the arm and records the band [low, high) of `u` in which
  the arm changes the outcome (per customer: heterogeneous risk and responsiveness). A
  contact's outcome differs between the arms exactly when its decision's `u` falls in that
  band and the decision came after the firing. The realised lift is the share of measured
  contacts (both arms) whose outcome the automation changes — the sample average treatment
  effect the report's lift estimates. A contact whose measured outcome is not the one its
  decision implied (its subscription ended for another reason; the goal did not hinge on the
  decision) counts as unchanged.
- **realised MRR impact**: for a changed contact, retained MRR differs between the arms by
  the MRR of the subscription at stake (its MRR at firing in the reporting currency, at most
  the contact's MRR at firing); per contact = the mean over the measured contacts (what the
  report's `mrr_impact.per_contact_minor` estimates), total = the sum over the treated ones
  (what `total_minor` estimates). Approximation: a plan change of that subscription between
  the firing and the window end (at most a few weeks) is ignored.

Only the `renewal` goal (the demo's default) has a computed truth; for another goal the
realised figures are None.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from worker.core.money import FxTable, round_minor
from worker.core.outcomes import renewal_target
from worker.demo.behaviour import CustomerBehaviour, Decision
from worker.store.db import Store
from worker.store.models import Firing, Outcome


@dataclass(frozen=True)
class TrueLift:
    expected: float
    realised: float | None
    measured: int            # contacts measured (first firings)
    changed: int             # of which the automation changes the outcome
    mrr_per_contact: float | None = None   # realised retained-MRR impact per measured contact (minor units)
    mrr_total: int | None = None           # … summed over the treated contacts


def true_lifts(store: Store, behaviour: CustomerBehaviour, fx: FxTable | None = None) -> dict[str, TrueLift]:
    """TrueLift per demo automation, from the contacts' first firings in `store`."""
    effects = behaviour.effects
    expected = {behaviour.reminder_automation: effects.renewal_churn * effects.reminder_effect,
                behaviour.save_automation: effects.save_treated - effects.save_base}
    by_sub = _save_decisions(behaviour)
    fx = fx or FxTable("usd", {})
    result = {}
    with store.session() as session:
        for name, configured in expected.items():
            firsts = _first_firings(session, name)
            measured = [(f, ok, fire_mrr) for f, ok, fire_mrr in firsts if ok is not None]
            if any((f.goal or {}).get("kind") != "renewal" for f, _, _ in measured):
                result[name] = TrueLift(configured, None, len(measured), 0)
                continue
            changed, impact, total = 0, 0, 0
            for firing, succeeded, fire_mrr in measured:
                decision = (_reminder_decision(firing, behaviour) if name == behaviour.reminder_automation
                            else _save_decision(firing, by_sub))
                if _changes(decision, firing, succeeded):
                    changed += 1
                    at_stake = min(_subscription_mrr(firing, decision.subscription, fx), fire_mrr)
                    impact += at_stake
                    total += at_stake if firing.arm == "treated" else 0
            count = len(measured)
            result[name] = TrueLift(configured, changed / count if count else None, count, changed,
                                    impact / count if count else None, total)
    return result


def _first_firings(session, name: str) -> list[tuple[Firing, bool | None, int]]:
    rows = session.execute(select(Firing, Outcome.succeeded, Outcome.mrr_at_fire_minor)
                           .outerjoin(Outcome, Outcome.firing_id == Firing.id)
                           .where(Firing.automation == name).order_by(Firing.fired_at, Firing.id)).all()
    seen: set[str] = set()
    found = []
    for firing, succeeded, fire_mrr in rows:
        if firing.contact_id not in seen:
            seen.add(firing.contact_id)
            found.append((firing, succeeded, fire_mrr or 0))
    return found


def _changes(decision: Decision | None, firing: Firing, succeeded: bool) -> bool:
    if decision is None or decision.decided < int(firing.fired_at.timestamp()):
        return False
    if not decision.low <= decision.u < decision.high:
        return False
    return succeeded == (firing.arm == "treated")


def _subscription_mrr(firing: Firing, subscription_id: str, fx: FxTable) -> int:
    """The subscription's MRR at firing in the reporting currency (from the firing's snapshot)."""
    for sub in ((firing.snapshot or {}).get("contact") or {}).get("subscriptions") or []:
        if sub.get("id") == subscription_id and sub.get("mrr_minor") is not None:
            return round_minor(fx.value({sub["currency"]: int(sub["mrr_minor"])}))
    return 0


def _reminder_decision(firing: Firing, behaviour: CustomerBehaviour) -> Decision | None:
    sub_id, date = renewal_target(firing)
    if sub_id is None or date is None:
        return None
    return behaviour.decisions.get(("renewal", sub_id, int(date.timestamp())))


def _save_decisions(behaviour: CustomerBehaviour) -> dict[str, list[Decision]]:
    found: dict[str, list[Decision]] = {}
    for (kind, sub_id, _), decision in behaviour.decisions.items():
        if kind == "save":
            found.setdefault(sub_id, []).append(decision)
    return found


def _save_decision(firing: Firing, by_sub: dict[str, list[Decision]]) -> Decision | None:
    """The decision on the cancellation this firing was about: the latest one noticed by then."""
    fired = int(firing.fired_at.timestamp())
    earlier = [d for d in by_sub.get(firing.subscription_id or "", []) if d.noticed <= fired]
    return max(earlier, key=lambda d: d.noticed) if earlier else None
