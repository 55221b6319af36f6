"""The layers stay layers: no module of ember imports, directly or through others, one that imports it.

Every import counts, also one inside a function (a lazy import is still a dependency), except
those under ``if TYPE_CHECKING:``, which only the type checker runs. A cycle is named module by
module, so the message says which import to move.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"

# Cycles known and not yet broken, each the set of modules in it with a comment saying why (none today).
KNOWN_CYCLES: list[frozenset[str]] = []


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(tree: ast.AST, package: str) -> Iterator[str]:
    """Every name ``tree`` imports (``a.b`` and, for ``from a.b import c``, ``a.b`` and ``a.b.c``)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                yield from _imported(ast.Module(body=[child], type_ignores=[]), package)
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)
        yield from _imported(node, package)


def import_graph() -> dict[str, set[str]]:
    """Each module of ember -> the modules of ember it imports."""
    paths = {module_name(path): path for path in (SRC / "ember").rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for imported in _imported(ast.parse(path.read_text(encoding="utf-8"), str(path)), package):
            while imported and imported not in paths:  # ``from ember.x import Name``: the module is ember.x
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph


def cycle_groups(graph: dict[str, set[str]]) -> list[set[str]]:
    """The groups of modules that import each other (strongly connected, more than one module)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []
    for root in sorted(graph):  # Tarjan's algorithm, without recursion
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(sorted(graph[root])))]
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.add(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(group)
    return groups


def cycle_path(group: set[str], graph: dict[str, set[str]]) -> list[str]:
    """The shortest way from the group's first module back to itself: ``[a, b, c, a]``."""
    start = min(group)
    parent: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node] & group):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return [*reversed(path), start]
                if child not in parent:
                    parent[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"no cycle in {sorted(group)}")


def test_the_graph_sees_lazy_imports_and_skips_type_checking_ones(tmp_path):
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "import ember.a\n"
        "if TYPE_CHECKING:\n    from ember.b import B\nelse:\n    from ember.c import C\n"
        "def f():\n    from ember.d import D\n"
    )
    names = set(_imported(tree, "ember"))
    assert {"ember.a", "ember.c", "ember.d"} <= names
    assert "ember.b" not in names


def test_cycles_are_found_and_named():
    graph = {"a": {"b"}, "b": {"c", "a"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycle_groups(graph) == [{"a", "b", "c"}]
    assert cycle_path({"a", "b", "c"}, graph) == ["a", "b", "a"]
    assert cycle_path({"a", "b", "c"}, {"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle_groups({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    graph = import_graph()
    found = [group for group in cycle_groups(graph) if frozenset(group) not in KNOWN_CYCLES]
    named = []
    for group in found:
        path = cycle_path(group, graph)
        others = sorted(group - set(path))
        named.append(" -> ".join(path) + (f" (and in the same knot: {', '.join(others)})" if others else ""))
    assert not named, "import cycles: move an import, or what it imports, a layer down:\n" + "\n".join(named)


def test_known_cycles_are_still_there():
    """A cycle that was broken comes off KNOWN_CYCLES, so it cannot come back unnoticed."""
    groups = [frozenset(group) for group in cycle_groups(import_graph())]
    for known in KNOWN_CYCLES:
        assert known in groups, f"{sorted(known)} is no longer a cycle as listed: update KNOWN_CYCLES"
