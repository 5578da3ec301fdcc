"""Always-valid inference: the asymptotic confidence sequence (pure core, numpy-friendly).

The report is recomputed hourly and read whenever; a fixed-horizon 95% interval read every
day and acted on at the first "significant" look is wrong far more than 5% of the time. A
*confidence sequence* is a sequence of intervals that holds the true effect at every sample
size simultaneously with probability ≥ 95%, so it may be read as often as anyone likes.

Method: the Gaussian-mixture asymptotic confidence sequence of Waudby-Smith, Arbour, Sinha,
Kennedy and Ramdas, "Time-uniform central limit theory and asymptotic confidence sequences"
(arXiv:2103.06476, 2021; Annals of Statistics 2024), Theorem 2.2:

    estimate ± sqrt( 2(Nρ²σ² + 1) / (N²ρ²) · ln( sqrt(Nρ²σ² + 1) / α ) )

with N the number of contacts analysed and σ² = N · Var(estimate) the per-contact variance
of the estimator (its influence function). As in GrowthBook's gbstats, the tuning constant is
taken per standard deviation, η = ρσ, so that the interval does not depend on the unit of the
metric (rates or cents):

    half-width = sqrt(Var(estimate)) · m(N),   m(N)² = 2(Nη² + 1)/(Nη²) · ln( sqrt(Nη² + 1)/α )

and η is chosen to make the sequence tightest at a planned sample size N* (the paper's §2.3):

    η² = (−2 ln α + ln(−2 ln α + 1)) / N*.

N* = PLANNED_CONTACTS (1,000 contacts, both arms together). At N = N* the multiplier is
about 3.03 instead of 1.96; it changes slowly on both sides (≈3.9 at N*/10, ≈3.2 at 10·N*).

The always-valid p-value is the smallest α whose sequence (same η) excludes 0:

    p = min(1, sqrt(Nη² + 1) · exp(−z² Nη² / (2(Nη² + 1)))),   z = estimate / sqrt(Var)

so p < 0.05 exactly when the 95% sequence excludes 0. Every function accepts numpy arrays
(the validity simulations call them on thousands of datasets at once).
"""

from __future__ import annotations

import math

import numpy as np

ALPHA = 0.05
#: The sample size (contacts, both arms) at which the confidence sequence is tightest.
PLANNED_CONTACTS = 1000


def eta_squared(planned: float = PLANNED_CONTACTS, alpha: float = ALPHA) -> float:
    """The tuning constant η² that minimises the sequence's width at `planned` contacts."""
    log_term = -2 * math.log(alpha)
    return (log_term + math.log(log_term + 1)) / planned


def multiplier(n, alpha: float = ALPHA, planned: float = PLANNED_CONTACTS):
    """m(N): the half-width in standard errors of the (1 − alpha) confidence sequence at N contacts."""
    scaled = np.asarray(n, dtype=float) * eta_squared(planned, ALPHA)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.sqrt(2 * (scaled + 1) / scaled * np.log(np.sqrt(scaled + 1) / alpha))
    return value if np.ndim(value) else float(value)


def interval(estimate, variance, n, alpha: float = ALPHA, planned: float = PLANNED_CONTACTS):
    """(low, high) of the always-valid interval for an estimate with `variance` from `n` contacts."""
    half = np.sqrt(np.asarray(variance, dtype=float)) * multiplier(n, alpha, planned)
    return estimate - half, estimate + half


def p_value(estimate, variance, n, planned: float = PLANNED_CONTACTS):
    """Always-valid two-sided p-value for estimate = 0 (η fixed at the 95% tuning)."""
    scaled = np.asarray(n, dtype=float) * eta_squared(planned, ALPHA)
    variance = np.asarray(variance, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z2 = np.where(variance > 0, np.asarray(estimate, dtype=float) ** 2 / variance,
                      np.where(np.asarray(estimate) != 0, np.inf, 0.0))
        value = np.minimum(1.0, np.sqrt(scaled + 1) * np.exp(-z2 * scaled / (2 * (scaled + 1))))
    return value if np.ndim(value) else float(value)
