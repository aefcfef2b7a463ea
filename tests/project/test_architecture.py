"""The package's shape: layers flow one way (import-linter) and no module imports itself back."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]


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


def _guarded_by_import_error(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Inside a ``try`` whose handlers catch ImportError: an optional or platform-only module."""
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.Try) and any(
                isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError")
                for h in node.handlers):
            return True
    return False


def _says_why(lines: list[str], node: ast.AST, import_lines: set[int]) -> bool:
    """A comment on the import's line, or above the run of imports (blank lines allowed) it
    belongs to: one reason may cover the imports of one dependency."""
    if "#" in lines[node.lineno - 1]:
        return True
    i = node.lineno - 1  # 1-based line above the import
    while i >= 1 and (i in import_lines or not lines[i - 1].strip()):
        i -= 1
    return i >= 1 and lines[i - 1].strip().startswith("#")


def test_every_import_inside_a_function_says_why():
    """An import inside a function is for a heavy or optional dependency, and says so (issue 13.1):
    a comment on its line or above its run of imports, or a guard by ``except ImportError`` (an
    optional or platform-only module). The standard library costs nothing at the top."""
    offenders = []
    for path in sorted((ROOT / "gte_ui").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        tree = ast.parse(source)
        parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            imports = [n for n in ast.walk(fn) if isinstance(n, (ast.Import, ast.ImportFrom))]
            import_lines = {i for n in imports for i in range(n.lineno, n.end_lineno + 1)}
            for node in imports:
                if not _says_why(lines, node, import_lines) and not _guarded_by_import_error(node, parents):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    assert offenders == []


# ------------------------------------------------------------------ issue 27's shape, kept
GENERATED = {"tei_pb2.py", "tei_pb2_grpc.py"}  # grpcio-tools output (frontends/grpc/regenerate.py)


def _package_modules() -> list[Path]:
    return [p for p in sorted((ROOT / "gte_ui").rglob("*.py")) if p.name not in GENERATED]


def test_no_class_outgrows_one_job():
    """No class in gte_ui/ over 300 lines: the service is a set of capabilities, not one class that
    grows with each feature."""
    big = []
    for path in _package_modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > 300:
                big.append(f"{path.relative_to(ROOT)}::{node.name} ({node.end_lineno - node.lineno + 1} lines)")
    assert big == []


def test_front_end_modules_only_adapt():
    """No module under gte_ui/frontends/ over 400 lines: routes, endpoints and subcommands dispatch
    to the service and to one protocol module per API family."""
    big = [f"{p.relative_to(ROOT)} ({n} lines)" for p in _package_modules()
           if "frontends" in p.parts and (n := len(p.read_text(encoding="utf-8").splitlines())) > 400]
    assert big == []


def _has_logic(path: Path) -> bool:
    """A module with a function or a class (a package's __init__ of re-exports has none)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) for n in tree.body)


def test_every_module_with_logic_has_its_unit_test_file():
    """tests/ mirrors gte_ui/: gte_ui/a/b.py is tested in tests/unit/a/test_b.py."""
    missing = []
    for path in _package_modules():
        rel = path.relative_to(ROOT / "gte_ui")
        if not _has_logic(path):
            continue
        # a package's own logic (gte_ui/frontends/cli/__init__.py) is tested in tests/unit/frontends/cli/test_cli.py
        name = "test_main.py" if rel.name == "__main__.py" else (
            f"test_{rel.parent.name}.py" if rel.name == "__init__.py" else f"test_{rel.name}")
        target = ROOT / "tests" / "unit" / rel.parent / name
        if not target.is_file():
            missing.append(f"{path.relative_to(ROOT)} -> {target.relative_to(ROOT)}")
    assert missing == []
