"""The demo's closing summary: the TRUE lift beside the MEASURED one, per automation."""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table

from worker.demo.runner import DemoResult
from worker.report.tables import interval, p_value_text, percent


@dataclass(frozen=True)
class LiftRow:
    automation: str
    expected: float
    realised: float | None
    measured: float | None
    ci95: tuple[float, float] | None
    p_value: float | None
    firings: int

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
        rows.append(LiftRow(automation["name"], truth.expected, truth.realised, automation.get("lift"),
                            tuple(ci) if ci else None, automation.get("p_value"),
                            automation["treated"]["measured"] + automation["holdout"]["measured"]))
    return rows


def summary_table(result: DemoResult) -> Table:
    table = Table("automation", "measured", "true (configured)", "true (realised)", "measured lift",
                  "95% interval", "p", "holds truth",
                  title="Lift in success rate (treated − holdout): TRUE vs MEASURED")
    for row in lift_rows(result):
        table.add_row(row.automation, str(row.firings), _signed(row.expected), _signed(row.realised),
                      _signed(row.measured), interval(row.ci95), p_value_text(row.p_value),
                      {True: "yes", False: "NO", None: "—"}[row.covered])
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
