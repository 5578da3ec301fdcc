"""The operator docs say what the code does (issue 16, points 8 and 13)."""

from __future__ import annotations

from pathlib import Path

from worker.stripe_api.permissions import REQUIRED
from worker.sync.source import EVENT_TYPES

ROOT = Path(__file__).resolve().parents[2]


def test_docs_sync_lists_every_permission_and_webhook_event_type():
    text = (ROOT / "docs" / "sync.md").read_text()
    assert all(f"`{event}`" in text for event in EVENT_TYPES)
    assert all(f"| {permission.resource} |" in text for permission in REQUIRED)


def test_rules_readme_says_once_what_happens_at_install():
    text = (ROOT / "rules" / "README.md").read_text()
    assert text.count("## What happens at install") == 1
    assert "(also its first stage) |" not in text  # the baseline records the stages found at install
    assert "apply_to_existing" in text and "interval:" in text
