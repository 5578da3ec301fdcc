"""The reference oracle and durable_rules agree on random automations and occurrences."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, target

from tests.engine.strategies import cases
from worker.engine import build_matcher


def _pairs(kind, automations, occurrences):
    matcher = build_matcher(automations, kind)
    try:
        return [(m.automation.name, m.occurrence.key) for m in matcher.match(occurrences)]
    finally:
        matcher.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_durable_rules_matches_exactly_what_the_reference_matches(case):
    automations, occurrences = case
    expected = _pairs("reference", automations, occurrences)
    target(float(len(expected)))  # steer towards cases with many matches, not vacuous ones
    assert _pairs("durable", automations, occurrences) == expected
