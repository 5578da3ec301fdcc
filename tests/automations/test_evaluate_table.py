"""The first `evaluate` of a large account prints a bounded table, not one row per firing (#18)."""

from __future__ import annotations

from dataclasses import dataclass

from typer.testing import CliRunner

from worker.automations.evaluate import Evaluation
from worker.cli.commands import evaluate as command
from worker.cli.main import app


@dataclass
class _Fired:
    automation: str
    contact_id: str
    trigger: str = "renewal_due"
    occurrence: str = "k"
    arm: str = "treatment"


class _Runtime:
    """The command's runtime, with nothing behind it (the evaluation is replaced)."""

    def close(self) -> None:
        pass


def test_a_pass_firing_thousands_prints_fifty_rows_and_the_counts(monkeypatch, tmp_path):
    fired = [_Fired("renewal" if i % 3 else "trial", f"acct-{i:05d}") for i in range(3000)]
    from worker.automations import service

    monkeypatch.setattr(service, "run_evaluation", lambda *a, **k: Evaluation(fired=fired, contacts=3000))
    monkeypatch.setattr(command, "bootstrap", lambda: None)
    monkeypatch.setattr(command, "command_runtime", lambda settings: _Runtime())
    result = CliRunner().invoke(app, ["evaluate", "--now", "2026-11-20T00:00:00Z"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "acct-00049" in result.output and "acct-00050" not in result.output
    assert "… and 2950 more" in result.output and "renewal 2000, trial 1000" in result.output


def test_a_dry_run_firing_thousands_previews_the_actions_of_the_first_fifty_only(monkeypatch):
    fired = [_Fired("renewal", f"acct-{i:05d}") for i in range(3000)]
    previewed: list[int] = []
    from worker.automations import service

    monkeypatch.setattr(service, "run_evaluation", lambda *a, **k: Evaluation(fired=fired, contacts=3000))
    monkeypatch.setattr(command, "bootstrap", lambda: None)
    monkeypatch.setattr(command, "command_runtime", lambda settings: _Runtime())
    monkeypatch.setattr(_Runtime, "rules", lambda self: None, raising=False)
    monkeypatch.setattr(command, "_print_previews", lambda rules, shown, at: previewed.append(len(shown)))
    result = CliRunner().invoke(app, ["evaluate", "--dry-run", "--now", "2026-11-20T00:00:00Z"],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert previewed == [50] and "the actions of the first 50 are shown" in result.output
