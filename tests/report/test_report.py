"""`stripe-lifecycle report`: --json exactly PRODUCT.md §8's shape (via the real command),
tables, --since, the offline HTML page rendered in headless Chromium, and GET /report."""

from __future__ import annotations

import io
import json
import math
import os
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest
from rich.console import Console
from scipy.stats import chisquare, fisher_exact

from tests.outcomes.builders import DAY
from tests.report.browser import load_page
from tests.report.conftest import NOW
from worker.errors import ConfigError
from worker.report.build import build_report, parse_since
from worker.report.html import render_html
from worker.report.tables import render_tables

AT = "--now=2026-06-15T12:00:00Z"
ARM_KEYS = ["fired", "measured", "succeeded", "rate", "mrr_at_fire_minor", "mrr_at_end_minor", "contacts",
            "firings_measured"]
MOVEMENT_KEYS = ["month", "new", "expansion", "contraction", "churn", "reactivation"]
AUTOMATION_KEYS = ["name", "goal", "treated", "holdout", "lift", "lift_ci95", "p_value", "actions",
                   "unit", "contacts", "verdict", "verdict_reason", "srm_p_value", "q_value", "holdout_share",
                   "fixed_horizon", "mrr_impact", "contacts_needed"]


def test_report_json_via_the_command_has_exactly_the_contract_shape_and_numbers(cli, report_env):
    done = cli("report", "--json", AT, env=report_env)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)  # stdout holds the JSON alone
    assert list(body) == ["generated_at", "currency", "mrr", "stages", "automations", "unlinked"]
    assert body["unlinked"] == {"customers": 0, "customers_with_mrr": 0, "mrr_minor": 0, "unconverted": {}}
    assert body["generated_at"] == "2026-06-15T12:00:00Z"
    assert body["currency"] == "usd"
    assert list(body["mrr"]) == ["total_minor", "by_stage", "movements"]
    assert body["mrr"]["total_minor"] == 15000
    assert body["mrr"]["by_stage"] == {"trial": 0, "customer": 15000, "churn": 0}
    assert body["stages"] == {"trial": 1, "customer": 1, "churn": 1}
    movements = body["mrr"]["movements"]
    assert (movements[0]["month"], movements[-1]["month"], len(movements)) == ("2025-07", "2026-06", 12)
    assert all(list(m) == MOVEMENT_KEYS for m in movements)
    by_month = {m["month"]: m for m in movements}
    assert by_month["2025-12"]["new"] == 10000
    assert by_month["2026-01"]["new"] == 5400  # 50.00 EUR at 1.08
    assert by_month["2026-04"]["expansion"] == 5000
    assert by_month["2026-05"]["churn"] == 5400
    assert [a["name"] for a in body["automations"]] == ["renewal-heads-up", "never-fired"]
    for automation in body["automations"]:
        assert list(automation) == AUTOMATION_KEYS
        assert list(automation["treated"]) == ARM_KEYS == list(automation["holdout"])
        assert list(automation["actions"]) == ["delivered", "retrying", "dead"]
    heads_up, never = body["automations"]
    assert heads_up["goal"] == "renewal"
    # one firing per contact here, so contacts == firings
    assert heads_up["treated"] == {"fired": 12, "measured": 9, "succeeded": 6, "rate": pytest.approx(6 / 9),
                                   "mrr_at_fire_minor": 90000, "mrr_at_end_minor": 60000, "contacts": 12,
                                   "firings_measured": 9}
    assert heads_up["holdout"] == {"fired": 5, "measured": 4, "succeeded": 1, "rate": 0.25,
                                   "mrr_at_fire_minor": 40000, "mrr_at_end_minor": 10000, "contacts": 5,
                                   "firings_measured": 4}
    assert heads_up["unit"] == "contact" and heads_up["contacts"] == {"treated": 12, "holdout": 5}
    assert heads_up["lift"] == pytest.approx(6 / 9 - 0.25)
    # always-valid: Welch variance, confidence sequence of Waudby-Smith et al. (η for 1,000 contacts)
    variance = (6 / 9) * (3 / 9) / 8 + 0.25 * 0.75 / 3
    eta2 = (-2 * math.log(0.05) + math.log(-2 * math.log(0.05) + 1)) / 1000
    n = 13
    half = math.sqrt(variance * 2 * (n * eta2 + 1) / (n * eta2) * math.log(math.sqrt(n * eta2 + 1) / 0.05))
    assert heads_up["lift_ci95"] == pytest.approx([6 / 9 - 0.25 - half, 6 / 9 - 0.25 + half])
    z2 = (6 / 9 - 0.25) ** 2 / variance
    assert heads_up["p_value"] == pytest.approx(min(1, math.sqrt(n * eta2 + 1) * math.exp(-z2 * n * eta2 / (2 * (n * eta2 + 1)))))
    # fixed-horizon beside it: expected counts below 5 → Fisher's exact test, checked against scipy
    assert heads_up["fixed_horizon"]["p_value"] == pytest.approx(fisher_exact([[6, 3], [1, 3]])[1], rel=1e-9)
    assert heads_up["fixed_horizon"]["test"] == "fisher_exact"
    assert heads_up["verdict"] == "collecting"  # fewer than 30 measured contacts per arm
    assert heads_up["srm_p_value"] == pytest.approx(chisquare([12, 5], [17 * 0.9, 17 * 0.1]).pvalue)
    assert heads_up["q_value"] == pytest.approx(heads_up["p_value"])  # the only automation with a p-value
    impact = heads_up["mrr_impact"]
    # everyone had 100.00 at firing: retained = 100.00 × success, so the impact is 100.00 × lift
    assert impact["per_contact_minor"] == round(10000 * (6 / 9 - 0.25))
    assert impact["total_minor"] == round(10000 * (6 / 9 - 0.25) * 9)
    assert impact["per_contact_ci95_minor"][0] < impact["per_contact_minor"] < impact["per_contact_ci95_minor"][1]
    assert impact["net_change"]["per_contact_minor"] == impact["per_contact_minor"]
    needed = heads_up["contacts_needed"]
    assert needed["treated"] > needed["fixed_horizon"]["treated"] > needed["fixed_horizon"]["holdout"]
    assert heads_up["actions"] == {"delivered": 10, "retrying": 1, "dead": 1}
    assert never["goal"] == "retention"
    assert never["treated"]["rate"] is None
    assert (never["lift"], never["lift_ci95"], never["p_value"]) == (None, None, None)
    assert (never["verdict"], never["mrr_impact"], never["q_value"]) == ("collecting", None, None)


def test_report_since_counts_only_later_firings_and_months(report_store, rules):
    # firings are daily from NOW − 60 days; since NOW − 55 days leaves treated 7 of 12, holdout 0 of 5
    body = build_report(report_store, rules, now=NOW, since=NOW - 55 * DAY).to_json()
    heads_up = body["automations"][0]
    assert heads_up["treated"]["fired"] == 7
    assert heads_up["holdout"]["fired"] == 0
    assert heads_up["lift"] is None
    assert [m["month"] for m in body["mrr"]["movements"]] == ["2026-04", "2026-05", "2026-06"]


def test_report_tables_show_revenue_arms_and_lift(report_store, rules):
    console = Console(file=io.StringIO(), width=160)
    render_tables(build_report(report_store, rules, now=NOW), console)
    text = console.file.getvalue()
    assert "150.00 USD" in text
    assert "renewal-heads-up (goal: renewal)" in text
    assert re.search(r"treated\s.*\b12\b.*\b12\b.*\b9\b.*\b6\b.*66\.7%", text)
    assert re.search(r"Lift \+41\.7 points per contact, always-valid 95% interval", text)
    assert "Verdict: COLLECTING" in text
    assert "Fisher's exact test" in text
    assert "delivered 10, retrying 1, dead 1" in text
    assert "MRR retained / expanded: treated 600.00 / 0.00, holdout 100.00 / 0.00 USD" in text


def test_a_bad_since_date_is_a_configuration_error():
    with pytest.raises(ConfigError, match="--since"):
        parse_since("last-tuesday")
    assert parse_since("2026-01-01") == datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_html_report_is_self_contained(report_store, rules):
    page = render_html(build_report(report_store, rules, now=NOW))
    scripts = re.findall(r"<script\b[^>]*>", page)
    assert scripts and not any("src=" in tag for tag in scripts)  # everything inlined
    assert not re.search(r"<(link|img|iframe)\b[^>]*(href|src)=[\"']?https?:", page)
    assert "Plotly.newPlot" in page
    assert 'class="verdict verdict-collecting"' in page   # the verdict row under the automation's arms
    assert "Retained MRR impact per contact 41.67 [" in page and "always-valid" in page
    for chart in ("chart-movements", "chart-success", "chart-stages", "chart-renewals"):
        assert f'id="{chart}"' in page


def _offline_html(cli, report_env, tmp_path: Path) -> str:
    target = tmp_path / "report.html"
    done = cli("report", "--html", str(target), AT, env=report_env)
    assert done.returncode == 0, done.stderr
    assert str(target) in done.stdout
    return target.read_text()


CHART_JS = {
    "svg_per_chart": "['chart-movements','chart-success','chart-stages','chart-renewals']"
                     ".map(id => document.querySelectorAll('#' + id + ' svg.main-svg').length)",
    "bars_in_success_chart": "document.querySelectorAll('#chart-success g.point path').length",
    "error_bars": "document.querySelectorAll('#chart-success g.errorbar').length",
    "movement_bars": "document.querySelectorAll('#chart-movements g.point path').length",
    "stage_lines": "document.querySelectorAll('#chart-stages g.trace.scatter').length",
    "title": "document.title",
}


def test_html_report_renders_in_headless_chromium_without_errors(cli, report_env, tmp_path):
    _offline_html(cli, report_env, tmp_path)
    screenshot = tmp_path / "report.png"
    run = load_page((tmp_path / "report.html").as_uri(), screenshot, CHART_JS)
    if os.environ.get("REPORT_SCREENSHOT"):  # to look at it: REPORT_SCREENSHOT=/tmp/report.png pytest …
        shutil.copy(screenshot, os.environ["REPORT_SCREENSHOT"])
    assert run.errors == []
    assert all(url.startswith(("file:", "data:", "about:")) for url in run.requests), run.requests
    assert run.values["title"] == "stripe-lifecycle report"
    assert all(count >= 1 for count in run.values["svg_per_chart"]), run.values
    assert run.values["bars_in_success_chart"] >= 2  # treated and holdout bars of the measured automation
    assert run.values["error_bars"] >= 1
    assert run.values["movement_bars"] >= 4  # new Dec + Jan, expansion Apr, churn May
    assert run.values["stage_lines"] == 3
    assert screenshot.stat().st_size > 20_000


def _console(settings, store):
    from starlette.testclient import TestClient

    from worker.console.app import create_console_app

    token = "report-token-0123456789"
    app = create_console_app(settings, store, clock=lambda: NOW)
    return TestClient(app, headers={"Authorization": f"Bearer {token}"}), token


def test_console_serves_the_report_page(report_store, rules_dir):
    from worker.settings import load_settings

    client, token = _console(load_settings(rules_dir=rules_dir, console_api_tokens=f"r:{'report-token-0123456789'}"),
                             report_store)
    with client:
        answer = client.get("/report")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/html")
        assert "renewal-heads-up" in answer.text and 'id="chart-success"' in answer.text
        assert "/static/vendor/plotly.min.js" in answer.text and "Plotly.newPlot" not in answer.text
        assert "firings since 2026-06-01" in client.get("/report?since=2026-06-01").text
        assert client.get("/report?since=soon").status_code == 400  # a bad parameter is the client's error
        assert client.get("/api/report").json()["automations"][0]["name"] == "renewal-heads-up"


def test_console_report_with_broken_rules_answers_503_in_plain_words(report_store, tmp_path):
    from worker.settings import load_settings

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "stages.yaml").write_text("stages: [not, a, mapping]\n")
    client, _ = _console(load_settings(rules_dir=broken, console_api_tokens="r:report-token-0123456789"), report_store)
    with client:
        answer = client.get("/report")
    assert answer.status_code == 503
    assert "stages.yaml" in answer.text and "Traceback" not in answer.text


def test_report_export_writes_assignments_and_outcomes_that_recompute_the_report(cli, report_env, tmp_path):
    import csv

    folder = tmp_path / "export"
    done = cli("report", "--json", "--export", str(folder), AT, env=report_env)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)  # still one JSON object on stdout
    heads_up = body["automations"][0]
    with (folder / "assignments.csv").open() as handle:
        assignments = list(csv.DictReader(handle))
    with (folder / "outcomes.csv").open() as handle:
        outcomes = list(csv.DictReader(handle))
    assert list(assignments[0]) == ["automation", "contact_id", "arm", "first_fired_at", "first_firing_id"]
    assert list(outcomes[0]) == ["automation", "contact_id", "firing_id", "arm", "fired_at", "window_end",
                                 "succeeded", "mrr_at_fire_minor", "mrr_at_end_minor", "currency", "counted"]
    arms = [row["arm"] for row in assignments if row["automation"] == "renewal-heads-up"]
    assert (arms.count("treated"), arms.count("holdout")) == (12, 5)
    assert assignments[0]["first_fired_at"].endswith("Z")
    counted = [row for row in outcomes if row["counted"] == "1"]
    rates = {}
    for arm in ("treated", "holdout"):
        rows = [int(row["succeeded"]) for row in counted if row["arm"] == arm]
        rates[arm] = sum(rows) / len(rows)
        assert len(rows) == heads_up[arm]["measured"]
        assert sum(int(r["mrr_at_fire_minor"]) for r in counted if r["arm"] == arm) == heads_up[arm]["mrr_at_fire_minor"]
    assert rates["treated"] - rates["holdout"] == pytest.approx(heads_up["lift"])


def test_report_export_to_an_unwritable_place_is_a_plain_error(cli, report_env, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    done = cli("report", "--export", str(blocker / "sub"), AT, env=report_env)
    assert done.returncode != 0
    assert "--export" in done.stderr + done.stdout and "Traceback" not in done.stderr
