"""Outcome statistics against independently computed values.

Newcombe's published worked examples (Newcombe 1998, Stat Med 17:857 Table II, method 10;
Newcombe 1998, Stat Med 17:857/873 Table I, Wilson score), and scipy for Wilson, Fisher's exact
test and the pooled two-proportion test (a chi-square test without continuity correction on the
2×2 table is the same test).
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from scipy.stats import binomtest, chi2_contingency, fisher_exact

from worker.core.statistics import (
    arm_mrr,
    compare_arms,
    fisher_exact_p,
    newcombe_interval,
    two_sided_p,
    wilson,
    z_test_p,
)

# Newcombe (1998) "Interval estimation for the difference between independent proportions",
# Table II, method 10 (hybrid score, no continuity correction).
NEWCOMBE_METHOD_10 = [
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((6, 7, 2, 7), (0.0582, 0.8062)),
    ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ((0, 10, 0, 10), (-0.2775, 0.2775)),
    ((10, 10, 0, 20), (0.6791, 1.0000)),
    ((10, 10, 0, 10), (0.6075, 1.0000)),
]

# Newcombe (1998) "Two-sided confidence intervals for the single proportion", Table I, method 3.
NEWCOMBE_WILSON = [
    ((81, 263), (0.2553, 0.3662)),
    ((15, 148), (0.0624, 0.1605)),
    ((0, 20), (0.0000, 0.1611)),
    ((1, 29), (0.0061, 0.1718)),
]


@pytest.mark.parametrize(("counts", "published"), NEWCOMBE_METHOD_10)
def test_lift_interval_matches_newcombes_published_method_10(counts, published):
    low, high = newcombe_interval(*counts)
    assert (round(low, 4), round(high, 4)) == published


@pytest.mark.parametrize(("counts", "published"), NEWCOMBE_WILSON)
def test_wilson_interval_matches_newcombes_published_values(counts, published):
    low, high = wilson(*counts)
    assert (round(low, 4), round(high, 4)) == published


@pytest.mark.parametrize("counts", [(0, 1), (1, 1), (3, 17), (40, 41), (500, 1000), (7, 12)])
def test_wilson_interval_matches_scipy(counts):
    reference = binomtest(counts[0], counts[1]).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = wilson(*counts)
    assert low == pytest.approx(reference.low, abs=1e-12)
    assert high == pytest.approx(reference.high, abs=1e-12)


TABLES = [(3, 10, 1, 12), (0, 5, 5, 5), (7, 9, 2, 11), (1, 40, 6, 38), (12, 20, 12, 20),
          (0, 3, 0, 4), (25, 30, 10, 30), (2, 2, 0, 1)]


@pytest.mark.parametrize("counts", TABLES)
def test_fisher_exact_matches_scipy(counts):
    k1, n1, k2, n2 = counts
    _, reference = fisher_exact([[k1, n1 - k1], [k2, n2 - k2]], alternative="two-sided")
    assert fisher_exact_p(*counts) == pytest.approx(reference, rel=1e-9)


@pytest.mark.parametrize("counts", [(60, 100, 45, 100), (120, 400, 150, 420), (30, 50, 30, 50), (80, 90, 60, 85)])
def test_z_test_matches_uncorrected_chi_square(counts):
    k1, n1, k2, n2 = counts
    _, reference, _, _ = chi2_contingency([[k1, n1 - k1], [k2, n2 - k2]], correction=False)
    assert z_test_p(*counts) == pytest.approx(reference, rel=1e-9)


def test_small_expected_counts_use_fishers_exact_test():
    # expected successes in the second arm: 12 × 6/22 ≈ 3.3 < 5
    p_value, test = two_sided_p(5, 10, 1, 12)
    assert test == "fisher_exact"
    assert p_value == pytest.approx(fisher_exact([[5, 5], [1, 11]])[1], rel=1e-9)


def test_large_expected_counts_use_the_z_test():
    p_value, test = two_sided_p(60, 100, 45, 100)
    assert test == "z_test"
    assert p_value == pytest.approx(chi2_contingency([[60, 40], [45, 55]], correction=False)[1], rel=1e-9)


def test_comparison_is_null_when_an_arm_has_nothing_measured():
    empty_holdout = compare_arms(5, 10, 0, 0)
    assert (empty_holdout.lift, empty_holdout.ci95, empty_holdout.p_value) == (None, None, None)
    empty_treated = compare_arms(0, 0, 3, 4)
    assert empty_treated.lift is None


def test_comparison_reports_lift_interval_and_p_value():
    result = compare_arms(56, 70, 48, 80)
    assert result.lift == pytest.approx(0.2)
    assert tuple(round(x, 4) for x in result.ci95) == (0.0524, 0.3339)
    assert result.p_value == pytest.approx(chi2_contingency([[56, 14], [48, 32]], correction=False)[1])


def test_arm_mrr_sums_retained_expanded_and_ratios():
    mrr = arm_mrr([(10000, 12000), (5000, 0), (3000, 2000)])
    assert (mrr.at_fire, mrr.at_end, mrr.retained, mrr.expanded) == (18000, 14000, 12000, 2000)
    assert mrr.nrr == Fraction(14000, 18000)
    assert mrr.grr == Fraction(12000, 18000)
    assert arm_mrr([]).nrr is None
