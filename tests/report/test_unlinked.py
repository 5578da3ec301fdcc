"""Unlinked revenue in the report: Stripe customers linked to no contact are left out of the MRR
total, and the report says how much and how to link them (table, HTML, `report --json`
key `unlinked`), on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone

from rich.console import Console

from tests.mrr.test_compute_adapter import customer, sub, write
from worker.report.build import build_report
from worker.report.html import render_html
from worker.report.tables import render_tables
from worker.rules.loader import load_rules
from worker.store.db import open_store

NOW = datetime(2026, 6, 15, 12, tzinfo=timezone.utc)


def _mirror(store) -> None:
    """acme-1 is linked; cus_x (USD 7.00 + EUR 50.00 → 7.00 + 54.00), cus_y (no subscription)
    and cus_z (1.234 KWD, no FX rate) link to no contact."""
    discounted = customer("cus_d", None)
    discounted["discount"] = {"id": "di_c", "object": "discount", "start": 0, "end": None,
                              "source": {"type": "coupon", "coupon": {"id": "half", "object": "coupon",
                                                                      "percent_off": 50, "duration": "forever"}}}
    write(store, [customer("cus_1", "acme-1"), customer("cus_x", None), customer("cus_y", None),
                  customer("cus_z", None), discounted],
          [sub("sub_a", "cus_1", "10000"), sub("sub_x", "cus_x", "700"), sub("sub_e", "cus_x", "5000", "eur"),
           sub("sub_z", "cus_z", "1234", "kwd"), sub("sub_d", "cus_d", "2001")])


def test_report_names_unlinked_mrr(store, rules_dir):
    _mirror(store)
    report = build_report(store, load_rules(rules_dir, {}), now=NOW)
    # cus_d: its own customer discount (50% forever) counts: 20.01 → 10.005 → 10.00 (half to even)
    assert report.to_json()["unlinked"] == {"customers": 5 - 1, "customers_with_mrr": 3,
                                            "mrr_minor": 700 + 5400 + 1000, "unconverted": {"KWD": 1234}}
    buffer = io.StringIO()
    render_tables(report, Console(file=buffer, width=200))
    text = buffer.getvalue()
    assert "Unlinked Stripe customers (4)" in text and "71.00 USD" in text
    assert "3 Stripe customer(s) with 71.00 USD + 1.234 KWD of MRR link to no contact" in text
    assert "`account_id` metadata key" in text and "accounts --unlinked" in text
    page = render_html(report)
    assert "link to no contact" in page and "71.00 USD" in page


def test_report_json_command_has_the_unlinked_key(cli, sqlite_url, rules_dir):
    store = open_store(sqlite_url)
    try:
        _mirror(store)
    finally:
        store.engine.dispose()
    done = cli("report", "--json", "--now=2026-06-15T12:00:00Z",
               env={"DATABASE_URL": sqlite_url, "RULES_DIR": str(rules_dir)})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["unlinked"]["mrr_minor"] == 7100
