"""The core's import graph: no module-level cycle, stores below the runtime, and every module
imports on its own in a fresh interpreter, in either order."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import portafn

ROOT = Path(portafn.__file__).parent

# portafn.store is the storage layer: it must not reach up to functions, the runtime or reliability.
STORE_MUST_NOT_IMPORT = (
    "portafn.app",
    "portafn.binding",
    "portafn.changes",
    "portafn.context",
    "portafn.reliability",
    "portafn.runtime",
    "portafn.testing",
    "portafn.triggers",
)

# app -> binding -> context -> runtime -> reliability -> app was a cycle; store.changes used the runtime.
ONCE_CYCLIC = (
    "portafn.app",
    "portafn.binding",
    "portafn.changes",
    "portafn.context",
    "portafn.reliability.outbox",
    "portafn.reliability.publish",
    "portafn.runtime",
    "portafn.store.table",
    "portafn.store.transaction",
)


def module_name(path: Path) -> str:
    parts = ["portafn", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _runtime_nodes(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements run at import time; a ``TYPE_CHECKING`` block is only read by type checkers."""
    for node in body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from _runtime_nodes(node.orelse)
        elif isinstance(node, ast.If | ast.Try):
            yield from _runtime_nodes(node.body)
        else:
            yield node


def _imported(module: str, node: ast.stmt) -> set[str]:
    """The portafn modules one import statement names (a module, or the package a name is in)."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names}
    if not isinstance(node, ast.ImportFrom):
        return set()
    base = node.module or ""
    if node.level:
        package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
        parts = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join([*parts, base] if base else parts)
    return {f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names}


def module_level_imports(module: str) -> set[str]:
    """The portafn modules ``module`` imports when it is imported."""
    tree = ast.parse(MODULES[module].read_text())
    found: set[str] = set()
    for node in _runtime_nodes(tree.body):
        found |= _imported(module, node)
    return {m for m in found if m in MODULES and m != module}


def all_imports(module: str) -> set[str]:
    """Every portafn module ``module`` may import, at import time or later inside a function."""
    tree = ast.parse(MODULES[module].read_text())
    skipped = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for inner in ast.walk(node)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and id(node) not in skipped:
            found |= _imported(module, node)
    return {m for m in found if m in MODULES}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that starts and ends at the same module, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)) is not None:
            return cycle
    return None


def test_the_checker_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert "portafn.store.table" in module_level_imports("portafn.changes")


def test_no_module_level_import_cycle() -> None:
    graph = {m: module_level_imports(m) for m in MODULES}
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_no_cycle_even_through_imports_inside_functions() -> None:
    # A deferred import keeps start-up cheap; it must not be how two layers lean on each other.
    graph = {m: all_imports(m) - {m} for m in MODULES}
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_stores_do_not_depend_on_functions_or_the_runtime() -> None:
    bad = {
        (m, dep)
        for m in MODULES
        if m.startswith("portafn.store")
        for dep in all_imports(m)
        if dep.startswith(STORE_MUST_NOT_IMPORT)
    }
    assert bad == set()


FIRST_IMPORT = """
import importlib, sys
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m == "portafn" or m.startswith("portafn.")]:
        del sys.modules[loaded]  # as if this module were the first the process imports
    importlib.import_module(name)
"""


def test_every_module_imports_first_on_its_own() -> None:
    # A cycle hidden by import order shows as an ImportError when its other end is imported first.
    # Each module first costs a fresh import of portafn (~0.3 s), so this takes the modules of the
    # layering that once had a cycle; the static check above covers the rest.
    names = sorted(MODULES)
    first = list(ONCE_CYCLIC)
    proc = subprocess.run(
        [sys.executable, "-c", FIRST_IMPORT, *first], capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr
    for order in (names, names[::-1]):  # and all in one process, in both orders
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                "import importlib, sys\nfor n in sys.argv[1:]: importlib.import_module(n)",
                *order,
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
