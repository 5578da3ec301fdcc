"""The JSON of a contact-level analysis: MRR impact and the fixed-horizon numbers (adapter).

Money estimates are statistics computed in floats; they are rounded here to whole minor units
of the reporting currency (half away from zero), intervals outward, so that every amount in
`report --json` is an integer.
"""

from __future__ import annotations

import math
from typing import Any

from worker.core.experiment import Analysis, Effect


def minor(value: float) -> int:
    """A float amount of minor units rounded half away from zero."""
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def _bounds(bounds: tuple[float, float], scale: int = 1) -> list[int]:
    return [math.floor(bounds[0] * scale), math.ceil(bounds[1] * scale)]


def effect_json(effect: Effect | None, treated: int) -> dict[str, Any] | None:
    """Per-contact and total (× treated contacts) impact, always-valid and fixed-horizon intervals."""
    if effect is None:
        return None
    return {"per_contact_minor": minor(effect.estimate), "per_contact_ci95_minor": _bounds(effect.ci95),
            "total_minor": minor(effect.estimate * treated), "total_ci95_minor": _bounds(effect.ci95, treated),
            "p_value": effect.p_value,
            "fixed_horizon": {"per_contact_ci95_minor": _bounds(effect.fixed_ci95),
                              "total_ci95_minor": _bounds(effect.fixed_ci95, treated),
                              "p_value": effect.fixed_p_value}}


def mrr_impact_json(analysis: Analysis | None) -> dict[str, Any] | None:
    """`mrr_impact`: retained MRR (the headline) and net MRR change, per contact and in total."""
    if analysis is None or analysis.retained is None:
        return None
    treated = analysis.treated_measured
    return {"metric": "retained_mrr", "adjusted_for": "mrr_at_fire", "treated_contacts": treated,
            **(effect_json(analysis.retained, treated) or {}),
            "net_change": effect_json(analysis.net_change, treated)}


def fixed_horizon_json(analysis: Analysis | None) -> dict[str, Any] | None:
    """The classical one-look numbers for the lift, labelled as such (not safe to read daily)."""
    if analysis is None or analysis.lift is None:
        return None
    return {"lift_ci95": list(analysis.fixed_lift_ci95) if analysis.fixed_lift_ci95 else None,
            "p_value": analysis.fixed_p_value, "test": analysis.fixed_test}
