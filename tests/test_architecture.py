"""The package's shape: layers flow one way (import-linter) and no module imports itself back."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_hold():
    """`lint-imports` reads the contracts in pyproject.toml: layers, independent front ends,
    no web framework below the front ends, no test fixture in the runtime."""
    exe = shutil.which("lint-imports") or pytest.fail("import-linter is not installed (requirements-test.txt)")
    r = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env={"PYTHONPATH": str(ROOT), "PATH": str(Path(sys.executable).parent)})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "0 broken" in r.stdout


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the import cycles are the components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_cycle_finder_finds_a_cycle():
    assert sorted(map(sorted, strongly_connected({"a": {"b"}, "b": {"a"}, "c": {"a"}}))) == [["a", "b"], ["c"]]


def test_no_import_cycles():
    """Counting imports inside functions too: a lazy import hides a cycle, it does not remove it."""
    graph = grimp.build_graph("gte_ui")
    modules = {m for m in graph.modules if m.startswith("gte_ui")}
    edges = {m: {d for d in graph.find_modules_directly_imported_by(m) if d in modules} for m in modules}
    cycles = [sorted(c) for c in strongly_connected(edges) if len(c) > 1]
    assert cycles == []
