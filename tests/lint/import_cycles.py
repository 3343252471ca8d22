"""Reports import cycles inside Python packages; exits 1 when there is one.

    python3 tests/lint/import_cycles.py worker/dxpy_worker [PACKAGE_DIR ...]

The graph has an edge A -> B for every import in module A of a module B of the same package:
``import pkg.b``, ``from pkg import b``, ``from pkg.b import name``, ``from . import b``,
``from .b import name``. Imports inside functions count too (deferring an import hides a loop
from the interpreter, not from the design); imports under ``if TYPE_CHECKING:`` do not (they
never run). ``from pkg import name`` where ``name`` is not a submodule is an edge to the
package's ``__init__``.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator
from pathlib import Path

from graph_cycles import strongly_connected


def modules_of(package_dir: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of the package (recursively)."""
    root_name = package_dir.name
    found = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join([root_name, *parts])] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def runtime_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that can run: all of them except the bodies of
    ``if TYPE_CHECKING:`` (their ``else`` branches run)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
            continue
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _base_of(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` names."""
    if not node.level:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    package = package[: len(package) - (node.level - 1)]
    return ".".join(package + ([node.module] if node.module else []))


def imported_modules(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that ``module`` imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    targets = set()
    for node in runtime_imports(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            base = _base_of(module, is_package, node)
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                     for alias in node.names]
        for name in names:
            # ``import pkg.a.b`` runs pkg.a.b: the longest known prefix is the module imported.
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
    return targets


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a path that returns to its start) per strongly connected component of
    more than one module."""
    components = [sorted(c) for c in strongly_connected(graph) if len(c) > 1]
    return [_cycle_through(graph, component) for component in sorted(components)]


def _cycle_through(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """A shortest path from the component's first module back to itself, inside it."""
    members = set(component)
    start = component[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for succ in sorted(graph[node] & members):
                if succ == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if succ not in previous:
                    previous[succ] = node
                    following.append(succ)
        frontier = following
    return component  # unreachable for a strongly connected component


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("packages", nargs="+", type=Path, help="package directories")
    args = parser.parse_args(argv)
    found = 0
    for package_dir in args.packages:
        if not (package_dir / "__init__.py").is_file():
            print(f"import_cycles: {package_dir} is not a package directory", file=sys.stderr)
            return 2
        known = modules_of(package_dir)
        graph = {name: imported_modules(name, path, known) for name, path in known.items()}
        cycles = find_cycles(graph)
        for cycle in cycles:
            print(f"import cycle: {' -> '.join(cycle)}")
        found += len(cycles)
        edges = sum(len(targets) for targets in graph.values())
        print(f"import_cycles: {package_dir}: {len(known)} modules, {edges} imports, "
              f"{len(cycles)} cycle(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
