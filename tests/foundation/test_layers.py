"""The import graph of `worker/` and `actions/` keeps the layers of docs/architecture.md
(issue 12): no import cycle, and no import that runs up a layer.

Every `import`/`from … import` is read from the source (function-level ones included: a lazy
import is still a dependency); imports under `if TYPE_CHECKING:` are not (they never run).
"""

from __future__ import annotations

import ast
import functools
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("worker", "actions")
# Pure core: the model and its pure computations, the errors, the rule-file schema.
PURE_CORE = ("worker.core", "worker.errors", "worker.rules.model")
# Adapters: one outside system each (ARCHITECTURE: "core + their one library").
ADAPTERS = ("worker.stripe_api", "worker.store", "worker.engine", "worker.settings", "worker.logs",
            "worker.runtime.broker", "worker.runtime.leader", "worker.runtime.counters", "worker.urls",
            "actions.http", "actions.smtp")
# Besides the core and other adapters, the outbound seams of actions/ use its types and failures.
ADAPTERS_MAY_USE = PURE_CORE + ADAPTERS + ("actions.base", "actions.failures")
# What actions/ may use of worker/: core types, errors, the redacting log.
ACTIONS_MAY_USE = ("worker.core", "worker.errors", "worker.logs")
THIRD_PARTY_IN_CORE = ("pydantic", "numpy", "scipy", "statsmodels")  # pure computation, no I/O


def _is(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


@functools.cache
def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(path: Path, module: str, is_package: bool) -> set[str]:
    """Absolute names imported by the module: `from a import b` gives a.b when that is a module
    of ours (a submodule, not a dependency on the package `a`'s own code), else a."""
    ours = _modules()
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if _type_checking_only(child):
                continue
            if isinstance(child, ast.Import):
                names.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = module.split(".") if is_package else module.split(".")[:-1]
                    anchor = anchor[: len(anchor) - child.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                for alias in child.names:
                    names.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in ours else base)
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return names


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: {n for n in _imports(path, name, path.name == "__init__.py") if n in modules and n != name}
            for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_worker_and_actions_have_no_import_cycle():
    assert _cycles(_graph()) == []


def test_the_pure_core_imports_no_adapter_and_nothing_outside_the_standard_library():
    modules = _modules()
    wrong = []
    for name, path in modules.items():
        if not _is(name, PURE_CORE):
            continue
        for imported in _imports(path, name, path.name == "__init__.py"):
            top = imported.split(".")[0]
            if top in PACKAGES:
                if imported in modules and not _is(imported, PURE_CORE):
                    wrong.append(f"{name} imports {imported}")
            elif top not in sys.stdlib_module_names and top not in THIRD_PARTY_IN_CORE and top != "__future__":
                wrong.append(f"{name} imports {imported}")
    assert wrong == []


def test_adapters_import_no_wiring():
    modules = _modules()
    wrong = [f"{name} imports {imported}" for name, path in modules.items() if _is(name, ADAPTERS)
             for imported in _imports(path, name, path.name == "__init__.py")
             if imported in modules and not _is(imported, ADAPTERS_MAY_USE)]
    assert wrong == []


def test_actions_import_no_wiring():
    modules = _modules()
    wrong = [f"{name} imports {imported}" for name, path in modules.items() if name.startswith("actions")
             for imported in _imports(path, name, path.name == "__init__.py")
             if imported in modules and imported.startswith("worker") and not _is(imported, ACTIONS_MAY_USE)]
    assert wrong == []
