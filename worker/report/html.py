"""The report as one self-contained HTML page with plotly charts (works offline).

plotly.js is inlined once in the page head (no CDN, no network script, no MathJax, no
topojson); each chart is a div plus an inline `Plotly.newPlot` call. Charts: MRR movements by
month, success rate per arm with 95% intervals for each automation, stage counts over time,
upcoming renewals with the MRR at stake. Chart values are shown in major currency units
(converted exactly with Decimal; plotly serialises them for drawing only).
"""

from __future__ import annotations

from decimal import Decimal
from html import escape
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from worker.core.money import exponent, format_minor
from worker.core.statistics import as_float
from worker.report.build import Report
from worker.report.tables import amount, interval, percent, unlinked_note, verdict_lines

_CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["sendDataToCloud"]}
_LAYOUT = {"template": "plotly_white", "height": 380, "margin": {"l": 60, "r": 20, "t": 50, "b": 50}}
_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1f2933;max-width:1200px}
h1{margin-bottom:4px} .muted{color:#616e7c} table{border-collapse:collapse;margin:12px 0 24px;font-size:.9em}
th,td{padding:4px 8px;border-bottom:1px solid #e4e7eb;text-align:right} th:first-child,td:first-child{text-align:left}
.kpis{display:flex;gap:16px;flex-wrap:wrap;margin:16px 0}
.kpi{border:1px solid #e4e7eb;border-radius:6px;padding:10px 16px}
.kpi b{display:block;font-size:1.4em} .chart{min-height:380px}
.verdict td{background:#f8f9fa;color:#323f4b;text-align:left}
"""


def major(minor: int, currency: str) -> Decimal:
    """Minor units → major units, exactly (for chart axes)."""
    return Decimal(minor).scaleb(-exponent(currency))


def render_html(report: Report) -> str:
    """The whole page as one string."""
    charts = [
        _chart("chart-movements", _movements_figure(report)),
        _chart("chart-success", _success_figure(report)),
        _chart("chart-stages", _stages_figure(report)),
        _chart("chart-renewals", _renewals_figure(report)),
    ]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<title>stripe-lifecycle report</title>"
        f"<style>{_STYLE}</style><script type=\"text/javascript\">{get_plotlyjs()}</script></head><body>"
        f"<h1>Lifecycle report</h1><p class=\"muted\">Generated {escape(_when(report))} · "
        f"amounts in {escape(report.currency.upper())}</p>"
        f"{_kpis(report)}{_unlinked(report)}<h2>Automations: treated vs holdout</h2>{_automation_table(report)}"
        f"<h2>Charts</h2>{''.join(charts)}</body></html>\n"
    )


def _unlinked(report: Report) -> str:
    if not report.unlinked.customers_with_mrr:
        return ""
    return f"<p class=\"note\">{escape(unlinked_note(report))}</p>"


def _when(report: Report) -> str:
    text = f"{report.generated_at:%Y-%m-%d %H:%M} UTC"
    return f"{text}, firings since {report.since:%Y-%m-%d}" if report.since else text


def _chart(div_id: str, figure: go.Figure) -> str:
    body = figure.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=_CONFIG)
    return f"<div class=\"chart\">{body}</div>"


def _kpis(report: Report) -> str:
    retention, conversion = report.retention, report.trial_conversion
    stake = sum(week["mrr_minor"] for week in report.renewals)
    items = [
        ("MRR", format_minor(report.mrr_total, report.currency)),
        ("Net revenue retention (12 mo)", percent(as_float(retention.nrr) if retention else None)),
        ("Gross revenue retention (12 mo)", percent(as_float(retention.grr) if retention else None)),
        ("Trial conversion (12 mo)", f"{percent(conversion.rate)} ({conversion.converted}/{conversion.left_trial})"),
        ("Renewing in 90 days", format_minor(stake, report.currency)),
        (f"Unlinked MRR ({report.unlinked.customers} customers, not in MRR)",
         format_minor(report.unlinked.mrr_minor, report.currency)),
        *((f"Contacts in {stage}", str(count)) for stage, count in report.stages.items()),
    ]
    cells = "".join(f"<div class=\"kpi\">{escape(label)}<b>{escape(value)}</b></div>" for label, value in items)
    return f"<div class=\"kpis\">{cells}</div>"


def _automation_table(report: Report) -> str:
    head = ("automation", "goal", "arm", "firings", "contacts", "measured", "succeeded", "rate", "95% interval",
            "MRR at firing", "MRR at end", "retained", "expanded", "NRR")
    rows = []
    for automation in report.automations:
        for index, (arm_name, arm) in enumerate((("treated", automation.treated), ("holdout", automation.holdout))):
            mrr = arm.mrr
            cells = [automation.name if index == 0 else "", automation.goal or "—" if index == 0 else "", arm_name,
                     str(arm.fired), str(arm.contacts), str(arm.measured), str(arm.succeeded), percent(arm.rate),
                     interval(arm.interval),
                     *(amount(v, report.currency) for v in (mrr.at_fire, mrr.at_end, mrr.retained, mrr.expanded)),
                     percent(as_float(mrr.nrr))]
            rows.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>")
        notes = "<br>".join(escape(line) for line in verdict_lines(automation, report.currency))
        rows.append(f"<tr class=\"verdict verdict-{escape(automation.verdict)}\"><td colspan=\"{len(head)}\" "
                    f"style=\"text-align:left\">{notes}</td></tr>")
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join(rows) or f"<tr><td colspan=\"{len(head)}\">No automations.</td></tr>"
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    return {**_LAYOUT, "title": {"text": title}, **extra}


def _movements_figure(report: Report) -> go.Figure:
    months = [row["month"] for row in report.movements]
    money = report.currency
    signs = {"new": 1, "expansion": 1, "reactivation": 1, "contraction": -1, "churn": -1}
    colors = {"new": "#2f9e44", "expansion": "#74b816", "reactivation": "#1c7ed6",
              "contraction": "#f59f00", "churn": "#e03131"}
    figure = go.Figure()
    if report.opening:  # MRR already there where the history starts: not new business
        figure.add_bar(name="opening balance", x=months, y=[major(report.opening.get(m, 0), money) for m in months],
                       marker_color="#adb5bd")
    for kind, sign in signs.items():
        values = [sign * major(row[kind], money) for row in report.movements]
        figure.add_bar(name=kind, x=months, y=values, marker_color=colors[kind])
    net = [sum(sign * major(row[k], money) for k, sign in signs.items()) for row in report.movements]
    figure.add_scatter(name="net", x=months, y=net, mode="lines+markers", line={"color": "#1f2933"})
    figure.update_layout(**_layout(f"MRR movements by month ({money.upper()})", barmode="relative"))
    return figure


def _success_figure(report: Report) -> go.Figure:
    names = [a.name for a in report.automations]
    figure = go.Figure()
    for arm_name, color in (("treated", "#1c7ed6"), ("holdout", "#adb5bd")):
        arms = [getattr(a, arm_name) for a in report.automations]
        rates = [arm.rate for arm in arms]
        upper = [(arm.interval[1] - arm.rate) if arm.interval else None for arm in arms]
        lower = [(arm.rate - arm.interval[0]) if arm.interval else None for arm in arms]
        labels = [f"{arm.succeeded}/{arm.measured}" for arm in arms]
        figure.add_bar(name=arm_name, x=names, y=rates, marker_color=color, text=labels,
                       error_y={"type": "data", "symmetric": False, "array": upper, "arrayminus": lower})
    figure.update_layout(**_layout("Success rate per arm (95% Wilson interval)", barmode="group",
                                   yaxis={"range": [0, 1.05], "tickformat": ".0%"}))
    return figure


def _stages_figure(report: Report) -> go.Figure:
    months = [row["month"] for row in report.stage_history]
    figure = go.Figure()
    for stage in report.stages:
        figure.add_scatter(name=stage, x=months, y=[row["counts"][stage] for row in report.stage_history],
                           mode="lines+markers")
    figure.update_layout(**_layout("Contacts per stage at each month's end"))
    return figure


def _renewals_figure(report: Report) -> go.Figure:
    rows, money = report.renewals, report.currency
    labels = [f"{row['contacts']} contact{'s' if row['contacts'] != 1 else ''}" for row in rows]
    figure = go.Figure()
    figure.add_bar(name="MRR at stake", x=[row["week"] for row in rows],
                   y=[major(row["mrr_minor"], money) for row in rows], text=labels, marker_color="#7048e8")
    title = f"Upcoming renewals, next 90 days: MRR at stake by week ({money.upper()})"
    figure.update_layout(**_layout(title, xaxis={"type": "category"}))
    return figure
