"""Chart data for the console pages: plotly figures as JSON (drawn by /static/console.js)."""

from __future__ import annotations

import json
from typing import Any

import plotly.graph_objects as go

from worker.report.html import _movements_figure, _renewals_figure, _stages_figure, _success_figure


def _data(figure: go.Figure) -> dict[str, Any]:
    return json.loads(figure.to_json())


def report_figures(report) -> list[dict[str, Any]]:  # noqa: ANN001 - worker.report.build.Report
    return [{"id": div_id, "figure": _data(make(report))} for div_id, make in (
        ("chart-movements", _movements_figure), ("chart-success", _success_figure),
        ("chart-stages", _stages_figure), ("chart-renewals", _renewals_figure))]


def firings_figure(rows: list[tuple[str, str, int]]) -> dict[str, Any]:
    """Firings per month, one bar series per arm. Written as plain plotly JSON: building a
    `go.Figure` (validation, the template) costs more than the page's queries."""
    months = sorted({month for month, _, _ in rows})
    data = []
    for arm, color in (("treated", "#1c7ed6"), ("holdout", "#adb5bd")):
        counts = {month: count for month, a, count in rows if a == arm}
        data.append({"type": "bar", "name": arm, "x": months, "y": [counts.get(m, 0) for m in months],
                     "marker": {"color": color}})
    layout = {"height": 320, "barmode": "stack", "title": {"text": "Firings per month"},
              "margin": {"l": 50, "r": 20, "t": 50, "b": 40}, "xaxis": {"type": "category"},
              "paper_bgcolor": "#fff", "plot_bgcolor": "#fff"}
    return {"data": data, "layout": layout}
