"""The demo's report shows the past year from its first day: its first sync rebuilds the
generated account's history from the sandbox's invoices."""

from __future__ import annotations

import pytest

from worker.demo import DemoConfig, run_demo

pytestmark = pytest.mark.slow


def test_the_demo_report_shows_the_past_year_on_its_first_day(tmp_path):
    result = run_demo(DemoConfig(customers=150, days=2, seed=2), workdir=tmp_path)
    first = result.first_day
    assert first is not None and len(first.movements) == 12
    past = first.movements[:-1]  # the eleven months before the install's month
    assert sum(1 for m in past if m["new"] > 0) >= 9 and sum(m["churn"] for m in past) > 0
    # the install month holds only what began in it, not the whole account's MRR as "new"
    assert first.movements[-1]["new"] < first.mrr_total / 4
    assert first.stage_history[0]["counts"]["customer"] > 0
    assert first.retention is not None and 0 < first.retention.grr <= 1


def test_with_history_off_the_demo_starts_from_an_opening_balance(tmp_path):
    result = run_demo(DemoConfig(customers=60, days=1, seed=2, history_months=0), workdir=tmp_path)
    first = result.first_day
    assert all(m["new"] == 0 for m in first.movements)
    assert sum(first.opening.values()) == first.mrr_total > 0
