"""`stripe-lifecycle demo` through the real command: a small run exits 0, prints the true vs
measured summary and writes a self-contained HTML report where it says."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_a_small_demo_prints_true_beside_measured_lift_and_writes_the_html_report(cli, tmp_path):
    report = tmp_path / "out" / "demo.html"
    report.parent.mkdir()
    result = cli("demo", "--customers", "50", "--days", "30", "--seed", "4", "--out", str(report), timeout=240)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "Simulated 30 days of a Stripe account with 50 customers" in text
    assert "TRUE vs MEASURED" in text
    assert "renewal-reminder" in text and "cancellation-save" in text
    assert "TRUE MRR kept / contact (USD)" in text and "MEASURED MRR kept / contact" in text
    assert "verdict" in text and "sign-ups" in text and "upgrades" in text
    assert str(report) in text.replace("\n", "")
    page = report.read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html") and "renewal-reminder" in page
    assert "Traceback" not in result.stderr


def test_an_unwritable_report_path_is_a_plain_error(cli, tmp_path):
    result = cli("demo", "--customers", "5", "--days", "1", "--out", str(tmp_path / "missing" / "r.html"),
                 timeout=240)
    assert result.returncode == 2
    assert "Cannot write the report" in result.stderr and "Traceback" not in result.stderr
