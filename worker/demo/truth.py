"""The TRUE lift of the demo's automations, beside which the report's measured lift is shown
(wiring over the store and the behaviour's decision log).

- **expected**: what the configured effects imply when every measured firing's outcome hinges
  on the customer's decision — renewal reminder `renewal_churn × reminder_effect`,
  cancellation save `save_treated − save_base`.
- **realised**: the counterfactual on the firings actually measured. Each decision used a draw
  `u` that does not depend on the arm, so for every measured firing we know whether its
  outcome would have differed had it been in the other arm: it differs exactly when `u` falls
  between the two arms' probabilities, and the decision came after the firing. The realised
  lift is the share of measured firings (both arms) whose outcome the automation changes — the
  sample average treatment effect that the report's lift estimates. A firing whose measured
  outcome is not the one its decision implied (a treated one that failed anyway because its
  subscription ended for another reason; a holdout one that succeeded anyway because the goal
  did not hinge on the decision, e.g. a `cancel_at` after the next renewal) counts as unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from worker.core.outcomes import renewal_target
from worker.demo.behaviour import CustomerBehaviour, Decision
from worker.store.db import Store
from worker.store.models import Firing, Outcome


@dataclass(frozen=True)
class TrueLift:
    expected: float
    realised: float | None
    measured: int
    changed: int   # measured firings whose outcome the automation changes


def true_lifts(store: Store, behaviour: CustomerBehaviour) -> dict[str, TrueLift]:
    """TrueLift per demo automation, from the measured firings in `store`."""
    effects = behaviour.effects
    bands = {
        behaviour.reminder_automation: (effects.reminded_churn, effects.renewal_churn,
                                        effects.renewal_churn * effects.reminder_effect),
        behaviour.save_automation: (min(effects.save_base, effects.save_treated),
                                    max(effects.save_base, effects.save_treated),
                                    effects.save_treated - effects.save_base),
    }
    by_sub = _save_decisions(behaviour)
    result = {}
    with store.session() as session:
        for name, (low, high, expected) in bands.items():
            rows = session.execute(select(Firing, Outcome.succeeded).join(Outcome, Outcome.firing_id == Firing.id)
                                   .where(Firing.automation == name)).all()
            changed = 0
            for firing, succeeded in rows:
                decision = (_reminder_decision(firing, behaviour) if name == behaviour.reminder_automation
                            else _save_decision(firing, by_sub))
                if _changes(decision, firing, succeeded, low, high):
                    changed += 1
            realised = changed / len(rows) if rows else None
            result[name] = TrueLift(expected, realised, len(rows), changed)
    return result


def _changes(decision: Decision | None, firing: Firing, succeeded: bool, low: float, high: float) -> bool:
    if decision is None or decision.decided < int(firing.fired_at.timestamp()):
        return False
    if not low <= decision.u < high:
        return False
    return succeeded == (firing.arm == "treated")


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
