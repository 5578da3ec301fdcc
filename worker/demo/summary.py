"""The demo's closing summary: the TRUE effects beside the MEASURED ones, per automation —
the rate lift and the retained-MRR impact (per contact and in total), from `report --json`."""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table

from worker.core.money import format_minor
from worker.demo.runner import DemoResult
from worker.report.build import Report
from worker.report.tables import amount, interval, p_value_text, percent


@dataclass(frozen=True)
class LiftRow:
    automation: str
    expected: float
    realised: float | None
    measured: float | None
    ci95: tuple[float, float] | None
    p_value: float | None
    treated: tuple[int, float | None]   # (contacts measured, success rate)
    holdout: tuple[int, float | None]
    verdict: str = "collecting"
    mrr_true: float | None = None                 # realised retained-MRR impact per contact (minor units)
    mrr_measured: int | None = None
    mrr_ci95: tuple[int, int] | None = None
    mrr_total_true: int | None = None
    mrr_total: int | None = None
    mrr_total_ci95: tuple[int, int] | None = None

    @property
    def firings(self) -> int:
        return self.treated[0] + self.holdout[0]

    @property
    def covered(self) -> bool | None:
        """Does the measured 95% interval hold the realised true lift?"""
        if self.ci95 is None or self.realised is None:
            return None
        return self.ci95[0] <= self.realised <= self.ci95[1]

    @property
    def mrr_covered(self) -> bool | None:
        """Does the MRR impact's 95% interval hold the realised true impact per contact?"""
        if self.mrr_ci95 is None or self.mrr_true is None:
            return None
        return self.mrr_ci95[0] <= self.mrr_true <= self.mrr_ci95[1]


def lift_rows(result: DemoResult) -> list[LiftRow]:
    """One row per demo automation, from the report's JSON and the true effects."""
    rows = []
    for automation in result.report.to_json()["automations"]:
        truth = result.truth.get(automation["name"])
        if truth is None:
            continue
        ci = automation.get("lift_ci95")
        treated, holdout = automation["treated"], automation["holdout"]
        impact = automation.get("mrr_impact") or {}
        rows.append(LiftRow(automation["name"], truth.expected, truth.realised, automation.get("lift"),
                            tuple(ci) if ci else None, automation.get("p_value"),
                            (treated["measured"], treated["rate"]), (holdout["measured"], holdout["rate"]),
                            automation.get("verdict", "collecting"), truth.mrr_per_contact,
                            impact.get("per_contact_minor"), _pair(impact.get("per_contact_ci95_minor")),
                            truth.mrr_total, impact.get("total_minor"), _pair(impact.get("total_ci95_minor"))))
    return rows


def _pair(value: list[int] | None) -> tuple[int, int] | None:
    return tuple(value) if value else None  # type: ignore[return-value]


def summary_table(result: DemoResult) -> Table:
    """One column per automation, one row per figure (fits an 80-column terminal)."""
    rows = lift_rows(result)
    money = result.report.currency
    table = Table(title="Holdout results by contact (treated − holdout): TRUE vs MEASURED",
                  caption="T / H: treated / holdout; MRR kept = retained MRR, min(at window end, at firing)")
    table.add_column("", no_wrap=True)
    for row in rows:
        table.add_column(row.automation, justify="right", overflow="fold", min_width=len(row.automation))
    unit = money.upper()
    yes_no = {True: "yes", False: "NO", None: "—"}
    figures = [
        ("contacts measured (T / H)", lambda r: f"{r.treated[0]} / {r.holdout[0]}"),
        ("success rate treated", lambda r: percent(r.treated[1])),
        ("success rate holdout", lambda r: percent(r.holdout[1])),
        ("TRUE lift, configured", lambda r: _signed(r.expected)),
        ("TRUE lift, realised", lambda r: _signed(r.realised)),
        ("MEASURED lift", lambda r: _signed(r.measured)),
        ("95% interval (always-valid)", lambda r: interval(r.ci95)),
        ("p-value (always-valid)", lambda r: p_value_text(r.p_value)),
        ("verdict", lambda r: r.verdict),
        ("holds the realised lift", lambda r: yes_no[r.covered]),
        (f"TRUE MRR kept / contact ({unit})", lambda r: _money(r.mrr_true, money)),
        ("MEASURED MRR kept / contact", lambda r: _money(r.mrr_measured, money)),
        ("95% interval", lambda r: _money_interval(r.mrr_ci95, money)),
        ("holds the realised impact", lambda r: yes_no[r.mrr_covered]),
        (f"TRUE total MRR impact ({unit})", lambda r: _money(r.mrr_total_true, money)),
        ("MEASURED total", lambda r: _money(r.mrr_total, money)),
        ("95% interval", lambda r: _money_interval(r.mrr_total_ci95, money)),
    ]
    for label, cell in figures:
        table.add_row(label, *(cell(row) for row in rows))
    return table


def headline(result: DemoResult) -> str:
    config, account, market = result.config, result.account, result.market
    received = sum(result.actions_received.values())
    business = ""
    if market:
        business = (f" Over the run: {market['signed_up']} sign-ups ({market['trials_started']} on trial; "
                    f"{market['trials_converted']} trials converted, {market['trials_dropped']} dropped), "
                    f"{market['upgrades']} upgrades, {market['downgrades']} downgrades.")
    return (f"Simulated {config.days} days of a Stripe account with {account['customers']} customers "
            f"({account['subscriptions']} subscriptions), seed {config.seed}; "
            f"{received} actions delivered to the local sink.{business}")


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


def _money(value: float | None, currency: str) -> str:
    """Major units without the code (the row label names the currency)."""
    return "—" if value is None else amount(round(value), currency)


def _money_interval(bounds: tuple[int, int] | None, currency: str) -> str:
    return "—" if bounds is None else f"[{amount(bounds[0], currency)}, {amount(bounds[1], currency)}]"
