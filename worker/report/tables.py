"""The report as readable rich tables on a terminal (`stripe-lifecycle report`)."""

from __future__ import annotations

import math

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
    caption = "\n".join([*verdict_lines(automation, currency),
                          (f"MRR retained / expanded: treated {amount(treated.retained, currency)} / "
                          f"{amount(treated.expanded, currency)}, holdout {amount(holdout.retained, currency)} / "
                          f"{amount(holdout.expanded, currency)} {currency.upper()}."),
                          (f"Actions: delivered {actions['delivered']}, retrying {actions['retrying']}, "
                          f"dead {actions['dead']}.")])
    table = Table(title=f"{automation.name} (goal: {automation.goal or 'none'})", caption=caption,
                  caption_justify="left")
    for title in ("arm", "firings", "contacts", "measured", "won", "rate", "95% interval",
                  f"MRR at firing ({currency.upper()})", "MRR at end", "NRR"):
        table.add_column(title, justify="left" if title == "arm" else "right")
    for arm_name in ("treated", "holdout"):
        table.add_row(arm_name, *_arm_cells(getattr(automation, arm_name), currency))
    return table


def _arm_cells(arm: Arm, currency: str) -> list[str]:
    mrr = arm.mrr
    return [str(arm.fired), str(arm.contacts), str(arm.measured), str(arm.succeeded), percent(arm.rate), interval(arm.interval),
            amount(mrr.at_fire, currency), amount(mrr.at_end, currency), percent(as_float(mrr.nrr))]


def amount(minor: int, currency: str) -> str:
    """A minor-unit amount in major units without the currency code (the column names it)."""
    return format_decimal(minor_to_major(minor, currency), exponent(currency))


def verdict_lines(automation: AutomationReport, currency: str) -> list[str]:
    """The verdict, the always-valid lift, the fixed-horizon numbers, MRR impact, guards and power."""
    analysis = automation.analysis
    lines = [f"Verdict: {automation.verdict.upper()} — {analysis.reason if analysis else 'no contact has fired yet'}."]
    lift = automation.lift
    if analysis is None or lift is None:
        return [*lines, "Lift: not available yet (each arm needs 2 measured contacts)."]
    q = "—" if automation.q_value is None else p_value_text(automation.q_value)
    lines.append(f"Lift {lift.estimate * 100:+.1f} points per contact, always-valid 95% interval "
                 f"{interval(lift.ci95)}, always-valid p = {p_value_text(lift.p_value)}, BH q = {q}.")
    test = "Fisher's exact test" if analysis.fixed_test == "fisher_exact" else "two-proportion z-test"
    lines.append(f"  (fixed-horizon, valid for one look only: {interval(analysis.fixed_lift_ci95)}, "
                 f"p = {p_value_text(analysis.fixed_p_value)}, {test})")
    for label, effect in (("Retained MRR", analysis.retained), ("Net MRR change", analysis.net_change)):
        if effect is not None:
            low, high = effect.ci95
            treated = analysis.treated_measured
            lines.append(f"{label} impact per contact {amount(round(effect.estimate), currency)} "
                         f"[{amount(math.floor(low), currency)}, {amount(math.ceil(high), currency)}], total over "
                         f"{treated} treated contacts {amount(round(effect.estimate * treated), currency)} "
                         f"[{amount(math.floor(low * treated), currency)}, {amount(math.ceil(high * treated), currency)}]"
                         f" {currency.upper()} (always-valid 95%, adjusted for MRR at firing).")
    srm = "—" if analysis.srm_p_value is None else f"{analysis.srm_p_value:.3g}"
    lines.append(f"Sample-ratio check p = {srm}; {power_line(analysis.contacts_needed)}")
    return lines


def power_line(needed: dict | None) -> str:
    """Contacts per arm needed for the stated lift at the observed base rate."""
    if not needed:
        return "contacts needed: — (no holdout rate yet)."
    return (f"to detect {needed['lift'] * 100:+.0f} points at the holdout rate {percent(needed['base_rate'])} with "
            f"{needed['power']:.0%} power: {needed['treated']} treated / {needed['holdout']} holdout contacts "
            f"(one fixed look: {needed['fixed_horizon']['treated']} / {needed['fixed_horizon']['holdout']}).")
