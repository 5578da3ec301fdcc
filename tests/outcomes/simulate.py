"""A vectorised SaaS population for the validity tests of the holdout analysis (numpy).

Contacts with heterogeneous churn risk (monthly hazard ~ Beta(0.6, 9), mean ≈ 6%) enter over a
year (60% are already customers, the rest sign up month by month); a recurring `renewal_due`
automation fires for each of them every month while they stay, and its `retention` goal looks
90 days (three renewals) ahead, so consecutive firings' windows overlap. MRR is heterogeneous
(log-normal) and moves with upgrades (+50%, 3% a month) and downgrades (−30%, 2% a month).
The treatment cuts each contact's hazard by its own factor e_i ~ U(0, 2·effect) at every
renewal after its first firing (treated contacts are reminded every month). Common random
numbers give both potential outcomes, so the realised truth of every dataset is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from worker.core.experiment import Unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW = 3          # renewals inside the 90-day retention window
MONTHS = 12         # months in which firings happen


@dataclass
class Population:
    treated: np.ndarray        # bool per contact
    entry: np.ndarray          # month of the first firing
    success: np.ndarray        # retention of the FIRST firing (observed arm)
    mrr_fire: np.ndarray
    mrr_end: np.ndarray        # observed arm, 0 when churned
    true_retained: np.ndarray  # Y(1) − Y(0) of retained MRR per contact
    true_success: np.ndarray   # success(1) − success(0)
    firing_success: np.ndarray  # every firing (contact-month) while alive: outcome
    firing_treated: np.ndarray

    def units(self) -> list[Unit]:
        return [Unit(str(i), "treated" if t else "holdout", T0 + timedelta(days=30 * int(m)), bool(s), int(f), int(e))
                for i, (t, m, s, f, e) in enumerate(zip(self.treated, self.entry, self.success, self.mrr_fire,
                                                        self.mrr_end, strict=True))]


def population(rng: np.random.Generator, contacts: int = 2000, holdout: float = 0.3,
               effect: float = 0.0) -> Population:
    """One dataset (see the module doc)."""
    treated = rng.random(contacts) >= holdout
    hazard = rng.beta(0.6, 9, contacts)
    cut = rng.uniform(0, 2 * effect, contacts) if effect else np.zeros(contacts)
    entry = np.where(rng.random(contacts) < 0.6, 0, rng.integers(1, MONTHS, contacts))
    horizon = MONTHS + WINDOW
    draws = rng.random((contacts, horizon))
    month = np.arange(horizon)[None, :]
    after = month >= entry[:, None]     # renewals from the first firing's month on
    stays0 = (draws >= hazard[:, None]) | ~after
    stays1 = (draws >= (hazard * (1 - cut))[:, None]) | ~after
    alive0, alive1 = np.cumprod(stays0, axis=1).astype(bool), np.cumprod(stays1, axis=1).astype(bool)
    change = np.where(rng.random((contacts, horizon)) < 0.03, 1.5,
                      np.where(rng.random((contacts, horizon)) < 0.02, 0.7, 1.0))
    mrr = np.round(rng.lognormal(np.log(4000), 0.8, contacts)[:, None] * np.cumprod(change, axis=1))
    rows = np.arange(contacts)
    at_fire = mrr[rows, entry]
    end = entry + WINDOW - 1
    ok1, ok0 = alive1[rows, end], alive0[rows, end]
    end_mrr = mrr[rows, end]
    observed = np.where(treated, ok1, ok0)
    retained1 = np.minimum(end_mrr * ok1, at_fire)
    retained0 = np.minimum(end_mrr * ok0, at_fire)
    alive = np.where(treated[:, None], alive1, alive0)
    # firing-level data: a firing every month m in [entry, MONTHS) while alive before m's renewal
    before = np.concatenate([np.ones((contacts, 1), bool), alive[:, :-1]], axis=1)
    fires = after & before & (month < MONTHS)
    outcome = np.zeros_like(fires)
    for m in range(MONTHS):
        outcome[:, m] = alive[:, m + WINDOW - 1]
    return Population(treated, entry, observed, at_fire, end_mrr * observed, retained1 - retained0,
                      ok1.astype(float) - ok0, outcome[fires], np.broadcast_to(treated[:, None], fires.shape)[fires])
