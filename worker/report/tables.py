"""The report as readable rich tables on a terminal (`stripe-lifecycle report`)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from worker.core.money import exponent, format_decimal, format_minor, minor_to_major
from worker.core.statistics import as_float
from worker.report.build import Arm, AutomationReport, Report


def percent(value: float | None, places: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{places}f}%"


def interval(bounds: tuple[float, float] | None) -> str:
    return "—" if bounds is None else f"[{percent(bounds[0])}, {percent(bounds[1])}]"


def p_value_text(value: float | None) -> str:
    if value is None:
        return "—"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def render_tables(report: Report, console: Console) -> None:
    """Revenue and movements, then one table per automation (treated vs holdout, lift)."""
    console.print(_revenue(report))
    if report.unlinked.customers_with_mrr:
        console.print(unlinked_note(report), markup=False, highlight=False)
    console.print(_movements(report))
    for automation in report.automations:
        console.print(_automation(automation, report.currency))
    if not report.automations:
        console.print("No automations in the rules and no firings.", markup=False, highlight=False)


def _revenue(report: Report) -> Table:
    money = report.currency
    table = Table(title=f"Revenue as of {report.generated_at:%Y-%m-%d %H:%M} UTC")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("MRR", format_minor(report.mrr_total, money))
    for stage, amount in report.mrr_by_stage.items():
        table.add_row(f"  MRR in {stage} ({report.stages.get(stage, 0)} contacts)", format_minor(amount, money))
    retention = report.retention
    table.add_row("Net revenue retention, trailing 12 months", percent(as_float(retention.nrr) if retention else None))
    table.add_row("Gross revenue retention, trailing 12 months",
                  percent(as_float(retention.grr) if retention else None))
    conversion = report.trial_conversion
    table.add_row(f"Trial conversion, trailing 12 months ({conversion.converted}/{conversion.left_trial})",
                  percent(conversion.rate))
    at_stake = sum(week["mrr_minor"] for week in report.renewals)
    renewing = sum(week["contacts"] for week in report.renewals)
    table.add_row(f"Renewing in the next 90 days ({renewing} contacts)", format_minor(at_stake, money))
    unlinked = report.unlinked
    table.add_row(f"Unlinked Stripe customers ({unlinked.customers}), MRR not in the total",
                  format_minor(unlinked.mrr_minor, money))
    return table


def unlinked_note(report: Report) -> str:
    """The sentence saying how much MRR belongs to no contact, and how to link it."""
    unlinked = report.unlinked
    extra = "".join(f" + {format_minor(v, c.lower())}" for c, v in unlinked.unconverted.items())
    return (f"{unlinked.customers_with_mrr} Stripe customer(s) with "
            f"{format_minor(unlinked.mrr_minor, report.currency)}{extra} of MRR link to no contact and are "
            f"not counted above. {report.how_to_link}")


def _movements(report: Report) -> Table:
    table = Table(title=f"MRR movements by month ({report.currency.upper()})")
    kinds = ("new", "expansion", "contraction", "churn", "reactivation")
    table.add_column("month")
    table.add_column("opening balance", justify="right")
    for kind in kinds:
        table.add_column(kind, justify="right")
    for row in report.movements:
        opening = report.opening.get(row["month"])
        table.add_row(row["month"], format_minor(opening, report.currency) if opening else "",
                      *(format_minor(row[k], report.currency) for k in kinds))
    return table


def _automation(automation: AutomationReport, currency: str) -> Table:
    actions = automation.actions
    treated, holdout = automation.treated.mrr, automation.holdout.mrr
    caption = (f"{_lift_line(automation)}\nMRR retained / expanded: treated {amount(treated.retained, currency)} / "
               f"{amount(treated.expanded, currency)}, holdout {amount(holdout.retained, currency)} / "
               f"{amount(holdout.expanded, currency)} {currency.upper()}.\nActions: delivered {actions['delivered']}, "
               f"retrying {actions['retrying']}, dead {actions['dead']}.")
    table = Table(title=f"{automation.name} (goal: {automation.goal or 'none'})", caption=caption,
                  caption_justify="left")
    for title in ("arm", "fired", "measured", "won", "rate", "95% interval", f"MRR at firing ({currency.upper()})",
                  "MRR at end", "NRR"):
        table.add_column(title, justify="left" if title == "arm" else "right")
    for arm_name in ("treated", "holdout"):
        table.add_row(arm_name, *_arm_cells(getattr(automation, arm_name), currency))
    return table


def _arm_cells(arm: Arm, currency: str) -> list[str]:
    mrr = arm.mrr
    return [str(arm.fired), str(arm.measured), str(arm.succeeded), percent(arm.rate), interval(arm.interval),
            amount(mrr.at_fire, currency), amount(mrr.at_end, currency), percent(as_float(mrr.nrr))]


def amount(minor: int, currency: str) -> str:
    """A minor-unit amount in major units without the currency code (the column names it)."""
    return format_decimal(minor_to_major(minor, currency), exponent(currency))


def _lift_line(automation: AutomationReport) -> str:
    comparison = automation.comparison
    if comparison.lift is None:
        return "Lift: not available yet (an arm has no measured firings)."
    test = "Fisher's exact test" if comparison.test == "fisher_exact" else "two-proportion z-test"
    return (f"Lift {comparison.lift * 100:+.1f} points, 95% interval "
            f"{interval(comparison.ci95)}, p = {p_value_text(comparison.p_value)} ({test}).")
