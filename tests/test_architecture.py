"""The package's import graph, read from the source with `ast` (nothing imported): data flows one way, so no bench
module reaches itself through its imports (module-level or inside a function; imports under TYPE_CHECKING are for
annotations only and are left out), and the report reads tables only, never the search engine."""
from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def module_name(path: Path) -> str:
    parts = path.relative_to(BENCH.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imported(path: Path, source: str) -> set[str]:
    """The bench modules `source` imports anywhere but under `if TYPE_CHECKING:`; `from bench.x import y` counts as
    bench.x.y when that is a module, else bench.x."""
    module, is_package = module_name(path), path.name == "__init__.py"
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking_only(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, is_package, node)
            found.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    return {name for name in found if name.split(".")[0] == "bench"}


MODULES = {module_name(p): p for p in sorted(BENCH.rglob("*.py"))}


def import_graph(sources: dict[str, str] | None = None) -> nx.DiGraph:
    """Edges module -> bench module it imports; a package's own __init__ is not an edge of its submodules."""
    graph = nx.DiGraph()
    for name, path in MODULES.items():
        graph.add_node(name)
        source = (sources or {}).get(name) or path.read_text()
        for target in imported(path, source):
            while target not in MODULES and "." in target:  # `import bench.search.tune as tune` names a module
                target = target.rsplit(".", 1)[0]
            if target != name and not name.startswith(target + "."):
                graph.add_edge(name, target)
    return graph


def test_the_graph_sees_function_level_and_relative_imports_but_not_type_checking_ones():
    source = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bench.cli import app\n"
              "def f():\n    from bench.search import tune\n    from ..report import stats\n")
    assert imported(BENCH / "faq" / "main.py", source) == {"bench.search.tune", "bench.report.stats"}


def test_no_bench_module_imports_itself_through_others():
    cycles = list(nx.simple_cycles(import_graph()))
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c + [c[0]]) for c in sorted(cycles, key=len)[:10])


def test_a_planted_cycle_is_found():
    planted = MODULES["bench.config"].read_text() + "\ndef _planted():\n    from bench.cli import app\n"
    assert list(nx.simple_cycles(import_graph({"bench.config": planted})))


@pytest.mark.parametrize("name", [m for m in MODULES if m.startswith("bench.report")])
def test_the_report_reads_tables_not_the_search_engine(name):
    reached = nx.descendants(import_graph(), name)
    assert not {m for m in reached if m.startswith("bench.search")}, f"{name} reaches " + ", ".join(
        sorted(m for m in reached if m.startswith("bench.search")))
