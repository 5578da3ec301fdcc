"""The demo's own rule files (written to a temporary RULES_DIR): the shipped stages, source
settings with an FX rate for every generated currency, and two automations whose actions
are webhooks to the local sink.
"""

from __future__ import annotations

from pathlib import Path

STAGES = """stages:
  trial:    {status: [trialing]}
  customer: {status: [active, incomplete, incomplete_expired, past_due, unpaid]}
  churn:    {status: [canceled]}
precedence: [customer, trial, churn]
"""

SOURCE = """contacts: {type: account, id_metadata_key: account_id, create_missing: true}
mrr: {preset: stripe, currency: usd, fx_rates: {eur: 1.08, gbp: 1.27, jpy: 0.0067}}
"""

AUTOMATIONS = """automations:
  - name: renewal-reminder
    on: renewal_due
    within: 14 days
    if: {{stage: customer}}
    do:
      - webhook: {{url: "{sink}/renewal-reminder"}}
    goal: {reminder_goal}
    holdout: {reminder_holdout}%

  - name: cancellation-save
    on: cancellation_scheduled
    if: {{stage: customer}}
    do:
      - webhook: {{url: "{sink}/cancellation-save"}}
    goal: {{kind: renewal}}       # success: the subscription set to cancel renews after all
    holdout: {save_holdout}%
"""


GOALS = {"renewal": "{kind: renewal}", "retention": "{kind: retention, within: 90 days}"}


def write_rules(folder: Path, sink_url: str, *, reminder_holdout: int = 30, save_holdout: int = 50,
                reminder_goal: str = "renewal") -> Path:
    """Write the three rule files into `folder` (created) and return it. `reminder_goal`:
    `renewal` (default) or `retention` (90 days, windows overlapping the next monthly firings)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "stages.yaml").write_text(STAGES, encoding="utf-8")
    (folder / "stripe.yaml").write_text(SOURCE, encoding="utf-8")
    (folder / "automations.yaml").write_text(
        AUTOMATIONS.format(sink=sink_url, reminder_holdout=reminder_holdout, save_holdout=save_holdout,
                           reminder_goal=GOALS[reminder_goal]),
        encoding="utf-8")
    return folder
