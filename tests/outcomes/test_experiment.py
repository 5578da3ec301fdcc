"""The contact-level estimators against second implementations and published formulas.

- lift: the closed-form difference in means with the unpooled (Welch) variance = statsmodels
  OLS on the arm with HC2 = the textbook p(1−p)/(n−1) formula;
- MRR impact: Lin's (2013) interacted regression = the difference of the two arms' own
  regressions evaluated at the pooled mean of the covariate, with HC2 variances added (numpy);
- confidence sequence: the formula of Waudby-Smith et al. (2021) Theorem 2.2 as printed, and
  its p-value inverts it exactly;
- SRM: the chi-square statistic by hand; BH: the step-up rule by hand; power: the textbook
  normal formula n₁ = (z₁₋α/₂ + z₁₋β)² (1 + 1/k) / h² (Cohen's h).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import statsmodels.api as sm
from scipy.stats import chi2, norm

from worker.core import sequential
from worker.core.experiment import (
    MIN_CONTACTS_PER_ARM,
    Unit,
    analyse,
    contacts_needed,
    q_values,
    srm_p_value,
    treatment_effect,
)
from worker.report.experiments import FiringRow, units_by_automation

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_rate_lift_is_ols_with_hc2_and_the_welch_variance():
    rng = np.random.default_rng(1)
    treated = rng.random(300) < 0.3
    y = (rng.random(300) < np.where(treated, 0.6, 0.5)).astype(float)
    effect = treatment_effect(y, treated)
    fit = sm.OLS(y, sm.add_constant(treated.astype(float))).fit(cov_type="HC2")
    assert effect.estimate == pytest.approx(fit.params[1])
    assert effect.variance == pytest.approx(fit.cov_params()[1, 1])
    p1, p0 = y[treated].mean(), y[~treated].mean()
    n1, n0 = treated.sum(), (~treated).sum()
    assert effect.estimate == pytest.approx(p1 - p0)
    assert effect.variance == pytest.approx(p1 * (1 - p1) / (n1 - 1) + p0 * (1 - p0) / (n0 - 1))
    assert effect.n == 300


def _hc2_intercept(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """OLS of y on [1, x] with the HC2 variance of the intercept, by hand."""
    design = np.column_stack([np.ones_like(x), x])
    inverse = np.linalg.inv(design.T @ design)
    beta = inverse @ design.T @ y
    residual = y - design @ beta
    leverage = np.einsum("ij,jk,ik->i", design, inverse, design)
    meat = design.T @ (design * (residual ** 2 / (1 - leverage))[:, None])
    return beta[0], (inverse @ meat @ inverse)[0, 0]


def test_mrr_impact_is_lins_estimator_with_hc2():
    rng = np.random.default_rng(2)
    n = 400
    treated = rng.random(n) < 0.5
    at_fire = rng.lognormal(8, 1, n)
    retained = at_fire * (rng.random(n) < np.where(treated, 0.85, 0.8)) + rng.normal(0, 50, n)
    effect = treatment_effect(retained, treated, at_fire)
    centred = at_fire - at_fire.mean()
    a1, v1 = _hc2_intercept(centred[treated], retained[treated])
    a0, v0 = _hc2_intercept(centred[~treated], retained[~treated])
    assert effect.estimate == pytest.approx(a1 - a0)
    assert effect.variance == pytest.approx(v1 + v0)
    # and the adjustment helps: much smaller variance than the plain difference in means
    assert effect.variance < 0.5 * treatment_effect(retained, treated).variance


def test_confidence_sequence_matches_the_published_formula_and_its_p_value_inverts_it():
    alpha, planned = 0.05, sequential.PLANNED_CONTACTS
    rho2 = (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / planned
    for n, estimate, variance in ((50, 0.1, 0.004), (1000, -0.02, 0.0002), (20000, 0.01, 1e-5)):
        sigma2 = variance * n   # per-contact variance; ρ taken per standard deviation (ρσ = η)
        rho_paper2 = rho2 / sigma2
        half = math.sqrt(2 * (n * sigma2 * rho_paper2 + 1) / (n * n * rho_paper2)
                         * math.log(math.sqrt(n * sigma2 * rho_paper2 + 1) / alpha))
        low, high = sequential.interval(estimate, variance, n)
        assert (low, high) == pytest.approx((estimate - half, estimate + half))
        # the p-value is the α at which the sequence's bound touches 0
        p = sequential.p_value(estimate, variance, n)
        if p < 1:
            edge = sequential.interval(estimate, variance, n, alpha=p)
            assert min(abs(edge[0]), abs(edge[1])) == pytest.approx(0, abs=1e-12)
    # wider than the fixed-horizon interval, about 3.03 standard errors at the planned size
    assert sequential.multiplier(planned) == pytest.approx(3.035, abs=0.01)
    assert sequential.multiplier(100) > sequential.multiplier(planned) > norm.ppf(0.975)


def test_srm_p_value_is_the_chi_square_goodness_of_fit():
    treated, holdout, share = 880, 120, 0.1
    expected = (900, 100)
    statistic = (treated - expected[0]) ** 2 / expected[0] + (holdout - expected[1]) ** 2 / expected[1]
    assert srm_p_value(treated, holdout, share) == pytest.approx(chi2.sf(statistic, 1))
    assert srm_p_value(10, 0, 0.0) is None and srm_p_value(0, 0, 0.1) is None


def test_q_values_are_benjamini_hochberg():
    p = [0.01, None, 0.04, 0.03, 0.2]
    present = sorted((value, index) for index, value in enumerate(p) if value is not None)
    m = len(present)
    manual = {}
    running = 1.0
    for rank in range(m, 0, -1):
        value, index = present[rank - 1]
        running = min(running, value * m / rank)
        manual[index] = running
    assert q_values(p) == [pytest.approx(manual[0]), None, pytest.approx(manual[2]), pytest.approx(manual[3]),
                           pytest.approx(manual[4])]


def test_contacts_needed_is_the_textbook_normal_formula():
    needed = contacts_needed(0.80, 0.5, lift=0.05)
    h = 2 * math.asin(math.sqrt(0.85)) - 2 * math.asin(math.sqrt(0.80))
    n1 = (norm.ppf(0.975) + norm.ppf(0.8)) ** 2 * 2 / h ** 2
    assert needed["fixed_horizon"]["treated"] == math.ceil(n1)
    assert needed["fixed_horizon"]["holdout"] == math.ceil(n1)
    assert needed["treated"] > 1.5 * n1   # reading every day costs sample size
    # the always-valid number is self-consistent: at that size the sequence's multiplier gives 80% power
    total = needed["treated"] + needed["holdout"]
    z = sequential.multiplier(total)
    assert (z + norm.ppf(0.8)) ** 2 * 2 / h ** 2 == pytest.approx(needed["treated"], rel=0.01)
    assert contacts_needed(None, 0.5) is None


def _units(n_treated: int, n_holdout: int, p_treated: float, p_holdout: float) -> list[Unit]:
    rng = np.random.default_rng(5)
    units = [Unit(f"t{i}", "treated", T0, bool(rng.random() < p_treated), 1000, 1000) for i in range(n_treated)]
    units += [Unit(f"h{i}", "holdout", T0, bool(rng.random() < p_holdout), 1000, 1000) for i in range(n_holdout)]
    return units


def test_verdicts():
    few = analyse(_units(MIN_CONTACTS_PER_ARM - 1, 500, 0.9, 0.2), 0.5)
    assert few.verdict == "collecting" or few.verdict == "withheld"
    assert analyse(_units(MIN_CONTACTS_PER_ARM - 1, MIN_CONTACTS_PER_ARM + 5, 0.9, 0.2), 0.5).verdict == "collecting"
    assert analyse(_units(400, 400, 0.9, 0.5), 0.5).verdict == "helps"
    assert analyse(_units(400, 400, 0.5, 0.9), 0.5).verdict == "hurts"
    assert analyse(_units(400, 400, 0.7, 0.7), 0.5).verdict in ("inconclusive",)
    mismatch = analyse(_units(900, 400, 0.9, 0.5), 0.5)   # configured 50/50, observed 69/31
    assert mismatch.verdict == "withheld" and "sample ratio mismatch" in mismatch.reason
    assert mismatch.lift is not None   # the numbers stay visible, only the verdict is withheld


def test_each_contact_counts_once_with_its_first_firing_in_the_period():
    day = timedelta(days=1)
    rows = [FiringRow(i, "a", contact, arm, T0 + offset * day, "retention", None, ok, 100, 100)
            for i, (contact, arm, offset, ok) in enumerate([
                ("c1", "treated", 0, True), ("c1", "treated", 30, False), ("c1", "treated", 60, None),
                ("c2", "holdout", 10, None), ("c2", "holdout", 40, True),
                ("c3", "holdout", 50, False)])]
    units = {u.contact_id: u for u in units_by_automation(rows, None)["a"]}
    assert units["c1"].succeeded is True          # its first firing, not the later failure
    assert units["c2"].succeeded is None          # first firing still pending: not measured yet
    assert units["c3"].succeeded is False
    since = {u.contact_id for u in units_by_automation(rows, T0 + 20 * day)["a"]}
    assert since == {"c3"}   # c1 and c2 entered before the period: a later firing carries earlier exposure


def test_tiny_or_degenerate_arms_give_no_estimate_rather_than_nan():
    assert treatment_effect([1.0, 0.0, 1.0], [True, False, True]) is None      # an arm of 1
    effect = treatment_effect([5.0, 5.0, 3.0, 3.0], [True, True, False, False], [1.0, 2.0, 1.0, 2.0])
    assert effect is not None and effect.estimate == pytest.approx(2.0) and math.isfinite(effect.variance)
    same = analyse([Unit(f"c{i}", "treated" if i % 2 else "holdout", T0, True, 100, 100) for i in range(80)], 0.5)
    assert same.lift.estimate == 0 and same.verdict == "inconclusive" and same.lift.p_value == 1.0
