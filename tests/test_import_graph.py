"""The layers point one way and no module imports itself in a circle.

webui → engine.runtime → engine.metadata: ``engine.metadata`` knows no database and no
web; ``engine.runtime`` knows no web, no CLI and not the ``Trellis`` facade above it (only
not even its type: they take the runtime context, ``engine.runtime.context.Runtime``);
``webui`` and ``engine.cli`` are on top. Imports inside functions count: a cycle hidden in a
function is still a cycle. Imports under ``TYPE_CHECKING`` are types, not dependencies.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.no_database

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("engine", "webui")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> Iterator[tuple[str, bool]]:
    """The project modules ``name`` imports, each with whether it is for types only."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(child) for child in ast.walk(node))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target, id(node) in typing_only


@functools.cache
def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    modules = _modules()
    runtime: dict[str, set[str]] = {name: set() for name in modules}
    typing: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for target, types_only in _imports(name, path, modules):
            (typing if types_only else runtime)[name].add(target)
    return runtime, typing


def _cycles(edges: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components with more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    counter = 0
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
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
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def _layer(module: str) -> int:
    if module.startswith("engine.metadata"):
        return 0
    if module.startswith("engine.runtime"):
        return 1
    if module == "engine.trellis" or module == "engine":
        return 2
    return 3  # engine.cli, webui


def test_layers_point_one_way() -> None:
    runtime, typing = _graph()
    upward = sorted(
        f"{source} imports {target}"
        for source, targets in runtime.items()
        for target in targets
        if _layer(target) > _layer(source)
        and not source.startswith("engine.cli")
        and not (source == "engine" and target == "engine.trellis")
    )
    assert upward == [], "imports against the layers (webui → engine.runtime → engine.metadata):\n" + "\n".join(upward)
    facade = sorted(source for source, targets in typing.items() if "engine.trellis" in targets and _layer(source) < 2)
    assert facade == [], (
        f"runtime modules typed against the Trellis facade (take engine.runtime.context.Runtime): {facade}"
    )


def test_no_module_imports_itself_in_a_circle() -> None:
    runtime, _ = _graph()
    cycles = [sorted(cycle) for cycle in _cycles(runtime)]
    assert cycles == [], f"import cycles: {cycles}"


def test_the_graph_sees_imports_inside_functions() -> None:
    runtime, _ = _graph()
    assert (
        "engine.runtime.workflow.conversion" in runtime["engine.runtime.records.session"]
    )  # imported inside Session.convert
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
