"""`stripe-lifecycle --help` starts fast: the command modules import their heavy dependencies
only when their command runs (issue 12). Checked on the real console entry point in a
subprocess, with `python -X importtime`, which names every module the process imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("sqlalchemy", "stripe", "durable_rules", "durable", "plotly", "dramatiq", "alembic")


def _imported(*args: str) -> set[str]:
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "worker.cli.main", *args],
                            cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Usage" in result.stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith("import time:")]
    return {line.rsplit("|", 1)[1].strip() for line in lines}


def test_help_imports_none_of_the_heavy_packages():
    imported = _imported("--help")
    assert "worker.cli.commands.accounts" in imported  # the commands are registered …
    loaded = sorted(name for name in imported if name.split(".")[0] in HEAVY)
    assert loaded == []  # … without what they need to run


def test_a_commands_help_imports_none_of_them_either():
    imported = _imported("sync", "--help")
    assert sorted(name for name in imported if name.split(".")[0] in HEAVY) == []
