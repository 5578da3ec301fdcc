"""Day-one history: right after its first `sync --full` (the real command, over HTTP, against
the sandbox), an account whose 18 months are known shows movements, NRR/GRR, trial conversion
and stage counts equal to the hand-computed ones (tests/history/account.py), to the cent."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.history.account import (
    CONVERTED,
    END_TOTAL,
    LEFT_TRIAL,
    RETAINED,
    STAGES_AT,
    START_TOTAL,
    Story,
    month_name,
)
from worker.core.snapshot import iso
from worker.report.build import build_report
from worker.rules.loader import load_rules
from worker.store.db import open_store
from worker.store.models import ContactHistory, StripeInvoice

REPO = Path(__file__).resolve().parents[2]


def write_rules(folder: Path, preset: str = "chartmogul") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "rules" / "stages.yaml", folder / "stages.yaml")
    (folder / "stripe.yaml").write_text(
        "contacts: {type: account, id_metadata_key: account_id, create_missing: true}\n"
        f"mrr: {{preset: {preset}, currency: usd, fx_rates: {{eur: 1.08, gbp: 1.27}}}}\n")
    return folder


@pytest.fixture(scope="module")
def story():
    built = Story(datetime.now(UTC))
    built.build()
    with built.sb:
        yield built


def _env(story: Story, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"STRIPE_API_KEY": story.sb.api_key, "STRIPE_API_BASE": story.sb.url,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'lifecycle.db'}", "STRIPE_MAX_RPS": "200",
            "RULES_DIR": str(write_rules(tmp_path / "rules")), **extra}


def test_first_full_sync_rebuilds_the_known_history_to_the_cent(story, cli, tmp_path):
    env = _env(story, tmp_path)
    synced = cli("sync", "--full", env=env, timeout=120)
    assert synced.returncode == 0, synced.stderr
    assert "history:        24 months rebuilt from" in synced.stdout
    since = month_name(story.base, 0) + "-01"
    shown = cli("report", "--json", "--since", since, "--now", iso(story.end), env=env)
    assert shown.returncode == 0, shown.stderr
    movements = json.loads(shown.stdout)["mrr"]["movements"]
    assert movements == story.expected_movements()

    store = open_store(env["DATABASE_URL"])
    try:
        rules = load_rules(Path(env["RULES_DIR"]), {})
        report = build_report(store, rules, now=story.end, since=story.at(0, 1))
        retention = report.retention
        assert (retention.start_minor, retention.end_minor, retention.retained_minor) == (
            START_TOTAL, END_TOTAL, RETAINED)
        assert (retention.nrr, retention.grr) == (Fraction(END_TOTAL, START_TOTAL), Fraction(RETAINED, START_TOTAL))
        assert (report.trial_conversion.left_trial, report.trial_conversion.converted) == (LEFT_TRIAL, CONVERTED)
        by_month = {row["month"]: row["counts"] for row in report.stage_history}
        for k, counts in STAGES_AT.items():
            assert by_month[month_name(story.base, k)] == counts, k
        assert report.opening == {}  # everything began inside the window: nothing is an opening balance
        with store.session() as session:
            sources = set(session.scalars(select(ContactHistory.source)))
            invoices = session.scalar(select(func.count()).select_from(StripeInvoice))
        assert sources == {"reconstructed"} and invoices == len(story.sb.store["invoice"].objects)
    finally:
        store.engine.dispose()


def test_evaluation_after_the_rebuild_adds_no_movement_and_fires_nothing(story, cli, tmp_path):
    env = _env(story, tmp_path)
    assert cli("sync", "--full", env=env, timeout=120).returncode == 0
    evaluated = cli("evaluate", env=env, timeout=120)
    assert evaluated.returncode == 0, evaluated.stderr
    rebuilt_again = cli("sync", "--history", env=env, timeout=120)  # observed rows exist now
    assert rebuilt_again.returncode == 0, rebuilt_again.stderr
    shown = cli("report", "--json", "--since", month_name(story.base, 0) + "-01", env=env)  # as of now
    movements = json.loads(shown.stdout)["mrr"]["movements"]
    assert movements[:18] == story.expected_movements()
    assert all(m[kind] == 0 for m in movements[18:] for kind in m if kind != "month")
    store = open_store(env["DATABASE_URL"])
    try:
        with store.session() as session:
            observed = list(session.scalars(select(ContactHistory).where(ContactHistory.source == "observed")))
            last_rebuilt = dict(session.execute(
                select(ContactHistory.contact_id, func.max(ContactHistory.at))
                .where(ContactHistory.source == "reconstructed").group_by(ContactHistory.contact_id)).all())
        assert {row.cause for row in observed} == {"first_seen"}
        assert all(row.at >= last_rebuilt[row.contact_id] for row in observed)
    finally:
        store.engine.dispose()


def test_without_history_the_first_month_is_an_opening_balance_not_new(story, cli, tmp_path):
    env = _env(story, tmp_path, HISTORY_MONTHS="0")
    synced = cli("sync", "--full", env=env, timeout=120)
    assert synced.returncode == 0 and "history:" not in synced.stdout
    assert cli("evaluate", env=env, timeout=120).returncode == 0
    store = open_store(env["DATABASE_URL"])
    try:
        rules = load_rules(Path(env["RULES_DIR"]), {})
        with store.session() as session:
            first_seen_at = session.scalar(select(func.max(ContactHistory.at)))
        report = build_report(store, rules, now=first_seen_at + timedelta(seconds=1))
        month = first_seen_at.strftime("%Y-%m")
        [row] = [m for m in report.movements if m["month"] == month]
        assert row["new"] == 0
        # today's MRR: A 30,000 + B 10,000 + C 30,000 + E 5,400 + F 30,000 + J 10,000
        assert report.opening == {month: 115400}
        assert report.retention is None
    finally:
        store.engine.dispose()


def test_sync_history_on_demand_reports_what_it_read_and_refuses_when_turned_off(story, cli, tmp_path):
    env = _env(story, tmp_path)
    assert cli("sync", "--full", env=env, timeout=120).returncode == 0
    again = cli("sync", "--history", "--json", env=env, timeout=120)
    assert again.returncode == 0, again.stderr
    body = json.loads(again.stdout)
    assert (body["history_months"], body["invoices"]) == (24, len(story.sb.store["invoice"].objects))
    assert body["history_rows"] > 0 and body["history_problems"] == []
    off = cli("sync", "--history", env={**env, "HISTORY_MONTHS": "0"})
    assert off.returncode == 2 and "HISTORY_MONTHS is 0" in off.stderr and "Traceback" not in off.stderr
