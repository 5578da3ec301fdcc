"""The reliability index cannot rot: every test it names exists, and docs/reliability.md lists
every one of them (the marker would otherwise silently select fewer tests than documented)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.reliability.plugin import RUNS_LAST, SCENARIOS

pytestmark = pytest.mark.reliability
REPO = Path(__file__).resolve().parents[2]
ENTRIES = [(scenario, nodeid) for scenario, ids in SCENARIOS.items() for nodeid in ids]


def _test_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}


@pytest.mark.parametrize(("scenario", "nodeid"), ENTRIES, ids=[n for _, n in ENTRIES])
def test_every_indexed_test_exists_and_is_documented(scenario, nodeid):
    file, _, function = nodeid.partition("::")
    path = REPO / file
    assert path.is_file(), f"{scenario}: {file} is gone"
    functions = _test_functions(path)
    assert functions, f"{file} holds no test"
    if function:
        assert function in functions, f"{scenario}: {file} no longer defines {function}"
    docs = (REPO / "docs" / "reliability.md").read_text()
    assert (function or file) in docs, f"docs/reliability.md does not list {nodeid}"


def test_the_secret_scan_is_indexed_and_runs_last(request):
    assert RUNS_LAST.startswith(SCENARIOS["no secret in any log line or output the suite produced"])
    names = [item.nodeid for item in request.session.items]
    if RUNS_LAST in names:
        assert names[-1] == RUNS_LAST
