"""The report's revenue figures are read a chunk of contacts at a time (issue 18, point 2):
whatever the chunk size, every figure equals the one computed over all contacts at once —
amounts are summed unrounded and rounded once, and a contact's history never straddles two
chunks."""

from __future__ import annotations

import pytest

from tests.report.conftest import NOW
from worker.core.money import FxTable
from worker.report import figures as figures_module
from worker.report.build import build_report
from worker.report.figures import revenue_figures


def _figures(store, rules, chunk: int):
    with store.session() as session:
        return revenue_figures(session, now=NOW, months=["2026-01", "2026-04", "2026-05", "2026-06"],
                               stage_names=list(rules.stages.stages), fx=FxTable.from_config(rules.source.mrr),
                               baseline_at=None, trial=frozenset({"trial"}), customer=frozenset({"customer"}),
                               chunk=chunk)


def test_figures_read_one_contact_at_a_time_equal_those_read_all_at_once(report_store, rules, monkeypatch):
    sizes: list[int] = []
    real = figures_module._history_chunks

    def history_chunks(session, until, chunk):
        for rows in real(session, until, chunk):
            sizes.append(len({row.contact_id for row in rows}))
            yield rows

    monkeypatch.setattr(figures_module, "_history_chunks", history_chunks)
    one = _figures(report_store, rules, chunk=1)
    assert sizes == [1, 1, 1]  # contacts a, b and t, one chunk each
    sizes.clear()
    every = _figures(report_store, rules, chunk=1000)
    assert sizes == [3]
    assert one == every
    assert every.mrr_total > 0 and any(m["expansion"] for m in every.movements) and any(m["churn"] for m in every.movements)


@pytest.mark.parametrize("chunk", [1, 2])
def test_the_report_is_the_same_whatever_the_chunk(report_store, rules, monkeypatch, chunk):
    whole = build_report(report_store, rules, now=NOW).to_json()
    monkeypatch.setattr(figures_module, "CHUNK", chunk)
    monkeypatch.setattr(figures_module.revenue_figures, "__kwdefaults__", {"chunk": chunk})
    assert build_report(report_store, rules, now=NOW).to_json() == whole
