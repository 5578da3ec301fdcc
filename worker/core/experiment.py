"""Holdout experiments analysed by contact, the randomised unit (pure core; statsmodels/scipy).

PRODUCT.md §8, issue 14. The arm is drawn per (automation, contact), so the contact is the
unit: each contact counts once per automation and report period, with the outcome of its
FIRST firing of the automation (docs/report.md explains why, and why not every firing).

Per automation (`analyse`):

- **lift** in success rate, treated − holdout: OLS of success on the arm with HC2 robust
  variance — for a binary regressor that is exactly p₁(1−p₁)/(n₁−1) + p₀(1−p₀)/(n₀−1), the
  unpooled (Welch) variance, computed in that closed form — read through the always-valid confidence sequence
  (`worker.core.sequential`); fixed-horizon numbers (Newcombe interval, z / Fisher p) beside.
- **MRR impact** per contact on retained MRR (min(at end, at firing)) and on net MRR change
  (at end − at firing), adjusted for MRR at firing by Lin's (2013) regression (outcome on
  arm, centred covariate and their interaction, HC2 errors; the CUPED / ANCOVA family that
  never loses precision under randomisation); total = per-contact × treated contacts.
- **SRM**: chi-square goodness of fit of contacts per arm against the configured holdout share.
- **power**: contacts per arm needed to detect `STATED_LIFT` at the observed holdout rate with
  80% power (statsmodels `NormalIndPower`), for the always-valid test and the fixed-horizon one.
- **verdict**: collecting / helps / hurts / inconclusive / withheld.

`q_values` adds Benjamini–Hochberg across a report's automations (statsmodels).
Money estimates are statistics: floats here, rounded to whole minor units by the report.
statsmodels and scipy are imported where used: every CLI command imports the report module,
and they take seconds to import.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from worker.core import sequential
from worker.core.statistics import Z95, newcombe_interval, two_sided_p

#: `collecting` until each arm has at least this many contacts measured.
MIN_CONTACTS_PER_ARM = 30
#: Below this SRM p-value the verdict is withheld (the split is not what was configured).
SRM_THRESHOLD = 0.001
#: The lift (absolute, in success-rate points) the power line is computed for.
STATED_LIFT = 0.05
POWER = 0.80


@dataclass(frozen=True)
class Unit:
    """One contact in one automation: its arm and its first firing's outcome (None while pending)."""

    contact_id: str
    arm: str
    fired_at: datetime
    succeeded: bool | None = None
    mrr_at_fire: int = 0
    mrr_at_end: int = 0


@dataclass(frozen=True)
class Effect:
    """An estimated treated − holdout difference with its variance and both kinds of interval."""

    estimate: float
    variance: float
    n: int

    @property
    def ci95(self) -> tuple[float, float]:
        """Always-valid (confidence sequence)."""
        low, high = sequential.interval(self.estimate, self.variance, self.n)
        return float(low), float(high)

    @property
    def p_value(self) -> float:
        return float(sequential.p_value(self.estimate, self.variance, self.n))

    @property
    def fixed_ci95(self) -> tuple[float, float]:
        half = Z95 * math.sqrt(self.variance)
        return self.estimate - half, self.estimate + half

    @property
    def fixed_p_value(self) -> float:
        if self.variance <= 0:
            return 1.0 if self.estimate == 0 else 0.0
        return math.erfc(abs(self.estimate) / math.sqrt(self.variance) / math.sqrt(2))


def treatment_effect(y: Sequence[float], treated: Sequence[bool], covariate: Sequence[float] | None = None
                     ) -> Effect | None:
    """Treated − holdout difference in mean y, Lin-adjusted for `covariate` when it varies; HC2.

    None when an arm has fewer than 2 contacts (no variance can be estimated)."""
    from statsmodels.regression.linear_model import OLS

    y_arr, t_arr = np.asarray(y, dtype=float), np.asarray(treated, dtype=float)
    n_treated = int(t_arr.sum())
    if n_treated < 2 or len(t_arr) - n_treated < 2:
        return None
    columns = [np.ones_like(t_arr), t_arr]
    if covariate is not None and min(n_treated, len(t_arr) - n_treated) >= 4:
        x = np.asarray(covariate, dtype=float)
        centred = x - x.mean()
        if np.ptp(centred[t_arr == 1]) > 0 and np.ptp(centred[t_arr == 0]) > 0:
            adjusted = _fit(OLS, y_arr, [*columns, centred, t_arr * centred])
            if adjusted is not None:
                return adjusted
    return _difference_in_means(y_arr, t_arr == 1)


def _difference_in_means(y: np.ndarray, treated: np.ndarray) -> Effect | None:
    """Unadjusted: the same as OLS on the arm with HC2 (tested against statsmodels), in closed
    form — exact for constant outcomes, and cheap for the simulations that call it thousands of times."""
    first, second = y[treated], y[~treated]
    estimate = float(first.mean() - second.mean())
    variance = float(first.var(ddof=1) / len(first) + second.var(ddof=1) / len(second))
    return Effect(estimate, variance, len(y))


def _fit(ols, y: np.ndarray, columns: list[np.ndarray]) -> Effect | None:
    """The arm coefficient with its HC2 variance; None when it is not finite (a degenerate design)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        fit = ols(y, np.column_stack(columns)).fit(cov_type="HC2")
        estimate, variance = float(fit.params[1]), float(fit.cov_params()[1, 1])
    if not (math.isfinite(estimate) and math.isfinite(variance)) or variance < 0:
        return None
    tolerance = 1e-9 * (float(np.abs(y).max()) + 1)   # rounding noise of a perfect fit is not an effect
    if abs(estimate) < tolerance:
        estimate = 0.0
    if variance < tolerance * tolerance:
        variance = 0.0
    return Effect(estimate, variance, len(y))


def srm_p_value(treated: int, holdout: int, holdout_share: float | None) -> float | None:
    """Chi-square goodness-of-fit p for the contacts per arm vs the configured share; None if untestable."""
    from scipy.stats import chisquare

    total = treated + holdout
    if holdout_share is None or not 0 < holdout_share < 1 or total == 0:
        return None
    expected = [total * (1 - holdout_share), total * holdout_share]
    return float(chisquare([treated, holdout], expected).pvalue)


def q_values(p_values: Sequence[float | None]) -> list[float | None]:
    """Benjamini–Hochberg q-values over the non-null p-values (None stays None)."""
    from statsmodels.stats.multitest import multipletests

    present = [(i, p) for i, p in enumerate(p_values) if p is not None]
    found: list[float | None] = [None] * len(p_values)
    if present:
        adjusted = multipletests([p for _, p in present], method="fdr_bh")[1]
        for (index, _), q in zip(present, adjusted, strict=True):
            found[index] = float(q)
    return found


def contacts_needed(base_rate: float | None, holdout_share: float | None, lift: float = STATED_LIFT,
                    power: float = POWER) -> dict | None:
    """Contacts per arm to detect `lift` at `base_rate` with `power`: always-valid and fixed-horizon."""
    from scipy.stats import norm
    from statsmodels.stats.proportion import proportion_effectsize

    if base_rate is None or holdout_share is None or not 0 < holdout_share < 1:
        return None
    target = base_rate + lift if base_rate + lift <= 1 else base_rate - lift
    effect = abs(proportion_effectsize(target, base_rate))
    if effect == 0:
        return None
    ratio = holdout_share / (1 - holdout_share)   # holdout contacts per treated contact
    fixed = _treated_needed(effect, ratio, sequential.ALPHA, power)
    treated = fixed
    for _ in range(30):   # the always-valid test's α at N contacts is that of its multiplier m(N)
        alpha = 2 * norm.sf(sequential.multiplier(treated * (1 + ratio)))
        following = _treated_needed(effect, ratio, alpha, power)
        if abs(following - treated) < 1:
            break
        treated = following
    return {"treated": math.ceil(treated), "holdout": math.ceil(treated * ratio), "lift": lift,
            "base_rate": base_rate, "power": power,
            "fixed_horizon": {"treated": math.ceil(fixed), "holdout": math.ceil(fixed * ratio)}}


def _treated_needed(effect: float, ratio: float, alpha: float, power: float) -> float:
    from statsmodels.stats.power import NormalIndPower

    return float(NormalIndPower().solve_power(effect_size=effect, alpha=alpha, power=power, ratio=ratio))


@dataclass(frozen=True)
class Analysis:
    """Everything the report shows for one automation's experiment."""

    contacts: dict[str, int]          # assigned contacts per arm (first firing in the period)
    measured: dict[str, int]          # of which measured
    succeeded: dict[str, int]
    lift: Effect | None
    fixed_lift_ci95: tuple[float, float] | None
    fixed_p_value: float | None
    fixed_test: str | None
    retained: Effect | None
    net_change: Effect | None
    srm_p_value: float | None
    contacts_needed: dict | None
    verdict: str
    reason: str

    @property
    def treated_measured(self) -> int:
        return self.measured["treated"]


def analyse(units: Sequence[Unit], holdout_share: float | None) -> Analysis:
    """The contact-level analysis of one automation's units."""
    contacts = {"treated": 0, "holdout": 0}
    for unit in units:
        contacts[_arm(unit)] += 1
    done = [u for u in units if u.succeeded is not None]
    measured = {"treated": 0, "holdout": 0}
    succeeded = {"treated": 0, "holdout": 0}
    for unit in done:
        measured[_arm(unit)] += 1
        succeeded[_arm(unit)] += bool(unit.succeeded)
    treated = [_arm(u) == "treated" for u in done]
    success = [float(bool(u.succeeded)) for u in done]
    at_fire = [float(u.mrr_at_fire) for u in done]
    retained = [float(min(u.mrr_at_end, u.mrr_at_fire)) for u in done]
    net = [float(u.mrr_at_end - u.mrr_at_fire) for u in done]
    args = (succeeded["treated"], measured["treated"], succeeded["holdout"], measured["holdout"])
    fixed = two_sided_p(*args) if min(measured.values()) > 0 else None
    lift = treatment_effect(success, treated)
    srm = srm_p_value(contacts["treated"], contacts["holdout"], holdout_share)
    base = succeeded["holdout"] / measured["holdout"] if measured["holdout"] else None
    verdict, reason = decide(lift, measured, srm)
    return Analysis(contacts, measured, succeeded, lift, newcombe_interval(*args),
                    fixed[0] if fixed else None, fixed[1] if fixed else None,
                    treatment_effect(retained, treated, at_fire), treatment_effect(net, treated, at_fire),
                    srm, contacts_needed(base, holdout_share), verdict, reason)


def decide(lift: Effect | None, measured: dict[str, int], srm: float | None) -> tuple[str, str]:
    """(verdict, why) from the always-valid lift interval and the guards."""
    if srm is not None and srm < SRM_THRESHOLD:
        return "withheld", (f"sample ratio mismatch (p = {srm:.2g} < {SRM_THRESHOLD}): the contacts per arm "
                            "do not match the configured holdout share, so the arms may not be comparable")
    short = min(measured.values())
    if lift is None or short < MIN_CONTACTS_PER_ARM:
        return "collecting", (f"each arm needs {MIN_CONTACTS_PER_ARM} measured contacts "
                              f"(treated {measured['treated']}, holdout {measured['holdout']})")
    low, high = lift.ci95
    if low > 0:
        return "helps", "the always-valid 95% interval of the lift is above 0"
    if high < 0:
        return "hurts", "the always-valid 95% interval of the lift is below 0"
    return "inconclusive", "the always-valid 95% interval of the lift includes 0"


def _arm(unit: Unit) -> str:
    return "holdout" if unit.arm == "holdout" else "treated"
