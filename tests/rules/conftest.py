"""Fixtures for the rule-file tests: a rules folder built from a dict of file name → YAML text."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from worker.errors import RuleFileError
from worker.rules.loader import load_rules
from worker.rules.model import RuleSet

SHIPPED = Path(__file__).resolve().parents[2] / "rules"

STRIPE = """\
contacts:
  type: account
  id_metadata_key: account_id
  create_missing: true
mrr:
  preset: stripe
  currency: usd
  fx_rates: {eur: 1.08, gbp: 1.27}
"""

STAGES = """\
stages:
  trial:    {status: [trialing]}
  customer: {status: [active, incomplete, incomplete_expired, past_due, unpaid]}
  churn:    {status: [canceled]}
precedence: [customer, trial, churn]
"""

BASE = {"stripe.yaml": STRIPE, "stages.yaml": STAGES}


def write_rules(folder: Path, files: Mapping[str, str | None]) -> Path:
    """Write the base files overlaid with `files` (None removes a base file)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in {**BASE, **files}.items():
        if text is not None:
            (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return folder


@pytest.fixture
def rules_dir(tmp_path: Path) -> Callable[[Mapping[str, str | None]], Path]:
    """Build a rules folder: `rules_dir({"automations.yaml": "..."})`."""
    return lambda files: write_rules(tmp_path / "rules", files)


@pytest.fixture
def problems_of(rules_dir) -> Callable[..., list[str]]:
    """The problem lines load_rules reports for these files (fails if it loads cleanly)."""

    def run(files: Mapping[str, str | None], env: Mapping[str, str] | None = None) -> list[str]:
        with pytest.raises(RuleFileError) as caught:
            load_rules(rules_dir(files), env or {})
        return caught.value.problems

    return run


@pytest.fixture
def load(rules_dir) -> Callable[..., RuleSet]:
    return lambda files, env=None: load_rules(rules_dir(files), env or {})
