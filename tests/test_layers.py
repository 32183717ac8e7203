"""The house's layers: imports point down, no cycles, and the core imports no I/O library.

Every module of Vigil's packages belongs to a layer (docs/architecture.md). A module may import modules of
its own package, or of a package in a lower layer; never one above, never a sibling package of the same
layer. Every import counts, also one inside a function or under ``TYPE_CHECKING``: a lazy import is still a
dependency, only hidden.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("stream", "rules", "geofences", "notifiers", "reviews")
# lowest first; a package may import its own modules and those of packages in lower layers
LAYERS: tuple[tuple[str, ...], ...] = (
    ("stream.model",),
    ("stream.ops", "geofences"),
    ("stream.feeds", "rules", "notifiers"),
    ("stream.core",),
    ("stream.runtime", "reviews"),
    ("stream.devtools",),
    ("stream.cli",),
)
RANK = {package: rank for rank, layer in enumerate(LAYERS) for package in layer}
# what the pure core must never import, even through another module
IO_LIBRARIES = ("faust", "aiokafka", "sqlalchemy", "apprise", "aiohttp", "fastapi", "mode", "psycopg", "uvicorn")


def module_name(path: Path) -> str:
    """The dotted module name of a file under ROOT."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    """Every module of Vigil's packages, by name."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:  # Alembic's scripts are loaded by Alembic, not imported
                found[module_name(path)] = path
    return found


def imports_of(path: Path) -> set[str]:
    """Every module name an ``import`` or ``from ... import`` in the file names (anywhere in it)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def package_of(module: str) -> str | None:
    """The layered package a module belongs to (``stream.core``, ``rules``, ...), or None."""
    for package in sorted(RANK, key=len, reverse=True):
        if module == package or module.startswith(package + "."):
            return package
    return None


def graph() -> dict[str, set[str]]:
    """Module → the Vigil modules it imports."""
    known = modules()
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in known.items():
        for target in imports_of(path):
            if target in known and target != name:
                edges[name].add(target)
    return edges


def upward_imports(edges: dict[str, set[str]]) -> list[str]:
    """Imports that point up a layer, or sideways into another package of the same layer."""
    wrong = []
    for source, targets in edges.items():
        mine = package_of(source)
        for target in targets:
            theirs = package_of(target)
            if mine is None or theirs is None or mine == theirs:
                continue
            if RANK[theirs] >= RANK[mine]:
                wrong.append(f"{source} imports {target} ({mine}, layer {RANK[mine]} -> {theirs}, layer {RANK[theirs]})")
    return sorted(wrong)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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

    for node in sorted(set(edges) | {t for ts in edges.values() for t in ts}):
        if node not in index:
            visit(node)
    return found


def package_graph(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """The same graph between layered packages."""
    packages: dict[str, set[str]] = defaultdict(set)
    for source, targets in edges.items():
        for target in targets:
            a, b = package_of(source), package_of(target)
            if a and b and a != b:
                packages[a].add(b)
    return packages


def test_every_module_has_a_layer() -> None:
    assert [name for name in modules() if package_of(name) is None and name not in PACKAGES] == []


def test_imports_point_down() -> None:
    assert upward_imports(graph()) == []


def test_no_import_cycle_between_modules() -> None:
    assert cycles(graph()) == []


def test_no_import_cycle_between_packages() -> None:
    assert cycles(package_graph(graph())) == []


def test_at_most_eight_modules_directly_in_stream() -> None:
    assert len(list((ROOT / "stream").glob("*.py"))) <= 8


@pytest.mark.parametrize("library", IO_LIBRARIES)
def test_the_core_imports_no_io_library_directly(library: str) -> None:
    core = {name: path for name, path in modules().items() if package_of(name) in ("stream.core", "stream.model")}
    offenders = [name for name, path in core.items() if any(i == library or i.startswith(library + ".") for i in imports_of(path))]
    assert offenders == []


def test_the_core_loads_no_io_library_at_all() -> None:
    # transitively: import every core module in a fresh interpreter and look at what got loaded
    core = sorted(name for name in modules() if package_of(name) == "stream.core")
    script = "import sys\n" + "".join(f"import {name}\n" for name in core) + (
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {IO_LIBRARIES!r}))")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# --- the checks themselves catch what they guard ------------------------------------------------------


def test_an_upward_import_is_reported() -> None:
    edges = {"stream.core.activations": {"stream.runtime.app"}, "stream.runtime.app": {"stream.core.activations"}}
    assert upward_imports(edges) == [
        "stream.core.activations imports stream.runtime.app (stream.core, layer 3 -> stream.runtime, layer 4)"]


def test_a_sideways_import_is_reported() -> None:
    assert upward_imports({"reviews.store": {"stream.runtime.app"}}) != []


def test_a_cycle_is_reported() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_a_lazy_import_counts(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from stream.core import x\n"
                      "def f():\n    import faust\n", encoding="utf-8")
    assert {"stream.core", "stream.core.x", "faust"} <= imports_of(source)


MAX_FUNCTION_LINES = 120


def long_functions() -> list[str]:
    """Functions (and methods) of Vigil's packages longer than ``MAX_FUNCTION_LINES``."""
    found = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None:
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found.append(f"{name}.{node.name}: {length} lines")
    return sorted(found)


def test_no_function_is_over_120_lines() -> None:
    assert long_functions() == []
