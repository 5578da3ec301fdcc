"""Outcome statistics: success rates per arm, lift with a 95% interval, p-value, MRR per arm (pure core).

PRODUCT.md §8. For each automation the treated and holdout arms are compared as two
independent binomial proportions:

- per-arm interval: Wilson's score interval (Newcombe 1998a, method 3);
- lift = treated rate − holdout rate, with the 95% interval of Newcombe's hybrid score method
  ("method 10" of Newcombe 1998b, built from the two Wilson intervals): it stays inside
  [−1, 1], behaves at 0 and n, and has close to nominal coverage for small arms;
- two-sided p-value: the pooled two-proportion z-test, or Fisher's exact test (two-sided, the
  sum of the probabilities of every table no more likely than the observed one, exact integer
  arithmetic) when any expected cell count is below 5, where the normal approximation fails.

Rates, intervals and p-values are floats (they are statistics, not money). MRR sums per arm
are integers in minor units; NRR/GRR are exact fractions that the report prints as floats.
Nothing here logs or does I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

#: The 0.975 quantile of the standard normal distribution (two-sided 95%).
Z95 = 1.959963984540054
#: Below this expected count in any cell of the 2×2 table the z-test gives way to Fisher's.
MIN_EXPECTED = 5


def rate(successes: int, trials: int) -> float | None:
    """The success rate, or None when nothing was measured."""
    return successes / trials if trials else None


def wilson(successes: int, trials: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval for one proportion (no continuity correction); None for n = 0."""
    if trials <= 0:
        return None
    p = successes / trials
    z2 = z * z
    centre = p + z2 / (2 * trials)
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials))
    denominator = 1 + z2 / trials
    low, high = (centre - half) / denominator, (centre + half) / denominator
    return max(0.0, low), min(1.0, high)


def newcombe_interval(k1: int, n1: int, k2: int, n2: int, z: float = Z95) -> tuple[float, float] | None:
    """95% interval for p1 − p2 by Newcombe's hybrid score method (method 10); None if an arm is empty."""
    first, second = wilson(k1, n1, z), wilson(k2, n2, z)
    if first is None or second is None:
        return None
    p1, p2 = k1 / n1, k2 / n2
    (l1, u1), (l2, u2) = first, second
    delta = p1 - p2
    low = delta - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = delta + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return max(-1.0, low), min(1.0, high)


def expected_counts(k1: int, n1: int, k2: int, n2: int) -> list[float]:
    """The four expected cell counts of the 2×2 table (arm × success/failure) under independence."""
    total = n1 + n2
    successes, failures = k1 + k2, total - k1 - k2
    return [n * column / total for n in (n1, n2) for column in (successes, failures)]


def z_test_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z-test (1.0 when the pooled rate is 0 or 1)."""
    pooled = (k1 + k2) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance <= 0:
        return 1.0
    z = (k1 / n1 - k2 / n2) / math.sqrt(variance)
    return math.erfc(abs(z) / math.sqrt(2))


def fisher_exact_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value of Fisher's exact test on [[k1, n1−k1], [k2, n2−k2]].

    Conditional on the margins, the count of successes in the first arm is hypergeometric;
    the p-value sums the probability of every table whose probability is ≤ the observed one.
    Weights are exact integers (binomial coefficients), so ties are compared exactly."""
    successes = k1 + k2
    low, high = max(0, successes - n2), min(successes, n1)
    weights = {a: math.comb(n1, a) * math.comb(n2, successes - a) for a in range(low, high + 1)}
    observed = weights[k1]
    extreme = sum(w for w in weights.values() if w <= observed)
    return min(1.0, float(Fraction(extreme, sum(weights.values()))))


def two_sided_p(k1: int, n1: int, k2: int, n2: int) -> tuple[float, str] | None:
    """(p-value, test name): Fisher's exact test when any expected count < 5, else the z-test."""
    if n1 <= 0 or n2 <= 0:
        return None
    if min(expected_counts(k1, n1, k2, n2)) < MIN_EXPECTED:
        return fisher_exact_p(k1, n1, k2, n2), "fisher_exact"
    return z_test_p(k1, n1, k2, n2), "z_test"


@dataclass(frozen=True)
class Comparison:
    """Treated vs holdout: lift, its 95% interval and the two-sided p-value (all None if an arm is empty)."""

    lift: float | None
    ci95: tuple[float, float] | None
    p_value: float | None
    test: str | None


def compare_arms(treated_succeeded: int, treated_measured: int,
                 holdout_succeeded: int, holdout_measured: int) -> Comparison:
    """Lift = treated rate − holdout rate, Newcombe interval, p-value; None where an arm has nothing measured."""
    if treated_measured <= 0 or holdout_measured <= 0:
        return Comparison(None, None, None, None)
    args = (treated_succeeded, treated_measured, holdout_succeeded, holdout_measured)
    p_value, test = two_sided_p(*args)  # type: ignore[misc]
    lift = treated_succeeded / treated_measured - holdout_succeeded / holdout_measured
    return Comparison(lift, newcombe_interval(*args), p_value, test)


@dataclass(frozen=True)
class ArmMrr:
    """MRR of an arm's measured firings, in minor units of the reporting currency.

    `retained` sums min(at end, at firing) per firing (what was kept, expansion excluded);
    `expanded` sums the increases; NRR = at end / at firing; GRR = retained / at firing."""

    at_fire: int
    at_end: int
    retained: int
    expanded: int

    @property
    def nrr(self) -> Fraction | None:
        return Fraction(self.at_end, self.at_fire) if self.at_fire else None

    @property
    def grr(self) -> Fraction | None:
        return Fraction(self.retained, self.at_fire) if self.at_fire else None


def arm_mrr(pairs: Iterable[tuple[int, int]]) -> ArmMrr:
    """Sum (MRR at firing, MRR at window end) pairs of one arm into an ArmMrr."""
    at_fire = at_end = retained = expanded = 0
    for fire, end in pairs:
        at_fire += fire
        at_end += end
        retained += min(fire, end)
        expanded += max(end - fire, 0)
    return ArmMrr(at_fire, at_end, retained, expanded)


def as_float(value: Fraction | None) -> float | None:
    """A ratio for JSON/tables (rates are statistics, not money)."""
    return None if value is None else float(value)
