"""The demo's closing summary: the TRUE lift beside the MEASURED one, per automation."""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table

from worker.core.money import format_minor
from worker.demo.runner import DemoResult
from worker.report.build import Report
from worker.report.tables import interval, p_value_text, percent


@dataclass(frozen=True)
class LiftRow:
    automation: str
    expected: float
    realised: float | None
    measured: float | None
    ci95: tuple[float, float] | None
    p_value: float | None
    treated: tuple[int, float | None]   # (measured, success rate)
    holdout: tuple[int, float | None]

    @property
    def firings(self) -> int:
        return self.treated[0] + self.holdout[0]

    @property
    def covered(self) -> bool | None:
        """Does the measured 95% interval hold the realised true lift?"""
        if self.ci95 is None or self.realised is None:
            return None
        return self.ci95[0] <= self.realised <= self.ci95[1]


def lift_rows(result: DemoResult) -> list[LiftRow]:
    """One row per demo automation, from the report's JSON and the true lifts."""
    rows = []
    for automation in result.report.to_json()["automations"]:
        truth = result.truth.get(automation["name"])
        if truth is None:
            continue
        ci = automation.get("lift_ci95")
        treated, holdout = automation["treated"], automation["holdout"]
        rows.append(LiftRow(automation["name"], truth.expected, truth.realised, automation.get("lift"),
                            tuple(ci) if ci else None, automation.get("p_value"),
                            (treated["measured"], treated["rate"]), (holdout["measured"], holdout["rate"])))
    return rows


def summary_table(result: DemoResult) -> Table:
    """One column per automation, one row per figure (fits an 80-column terminal)."""
    rows = lift_rows(result)
    table = Table(title="Lift in success rate (treated − holdout): TRUE vs MEASURED")
    table.add_column("")
    for row in rows:
        table.add_column(row.automation, justify="right", no_wrap=True)
    figures = [
        ("firings measured (treated / holdout)", lambda r: f"{r.treated[0]} / {r.holdout[0]}"),
        ("success rate treated", lambda r: percent(r.treated[1])),
        ("success rate holdout", lambda r: percent(r.holdout[1])),
        ("TRUE lift, configured", lambda r: _signed(r.expected)),
        ("TRUE lift, realised", lambda r: _signed(r.realised)),
        ("MEASURED lift", lambda r: _signed(r.measured)),
        ("95% interval", lambda r: interval(r.ci95)),
        ("p-value", lambda r: p_value_text(r.p_value)),
        ("interval holds the realised truth", lambda r: {True: "yes", False: "NO", None: "—"}[r.covered]),
    ]
    for label, cell in figures:
        table.add_row(label, *(cell(row) for row in rows))
    return table


def headline(result: DemoResult) -> str:
    config, account = result.config, result.account
    received = sum(result.actions_received.values())
    return (f"Simulated {config.days} days of a Stripe account with {account['customers']} customers "
            f"({account['subscriptions']} subscriptions), seed {config.seed}; "
            f"{received} actions delivered to the local sink.")


def _signed(value: float | None) -> str:
    if value is None:
        return "—"
    return ("+" if value > 0 else "") + percent(value, 2)


def day_one_line(report: Report) -> str:
    """What the report showed on the demo's first day (history rebuilt from the invoices)."""
    moving = [m for m in report.movements if any(m[k] for k in m if k != "month")]
    if not moving:
        return "Day one: no MRR movements before the first sync (history not rebuilt: HISTORY_MONTHS=0)."
    new = sum(m["new"] for m in report.movements)
    churn = sum(m["churn"] for m in report.movements)
    return (f"Day one: the report already showed MRR movements in {len(moving)} of its {len(report.movements)} "
            f"months, rebuilt from Stripe's invoices (new {format_minor(new, report.currency)}, "
            f"churn {format_minor(churn, report.currency)}).")
