"""Import layering of scmis_core / scmis_ros, read from the source with ``ast`` (no imports).

Every ``import`` statement counts, including those inside functions: a function-local import
hides a cycle from Python but not from a reader. ``scmis_core`` is the framework-agnostic
layer: it never imports rclpy, ROS message packages or ``scmis_ros``.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("scmis_core", "scmis_ros")
#: Top-level modules that tie code to ROS 2 (``rosbags`` is a pure-Python bag reader that
#: ``scmis_core`` may use; these need a ROS installation).
ROS_MODULES = {"rclpy", "rcl_interfaces", "sensor_msgs", "std_msgs", "builtin_interfaces",
               "launch", "launch_ros", "launch_testing", "ament_index_python", "message_filters",
               "cv_bridge"}


def _modules() -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package ``__init__``)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts = parts[:-1]
            found[".".join(parts)] = (path, is_package)
    return found


MODULES = _modules()


def _imported_names(module: str, is_package: bool, node: ast.AST) -> list[str]:
    """Absolute dotted names an import statement refers to (module and module.attribute)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    assert isinstance(node, ast.ImportFrom)
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[:len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    return [target] + [f"{target}.{alias.name}" for alias in node.names]


def _file_imports(module: str, is_package: bool, source: str) -> list[tuple[str, int]]:
    """[(imported name, line)] of every import statement in ``source``, nested ones too."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found += [(name, node.lineno) for name in _imported_names(module, is_package, node)]
    return found


def _imports() -> dict[str, list[tuple[str, int]]]:
    """Module -> [(imported name, line)] for every import statement anywhere in the file."""
    return {module: _file_imports(module, is_package, path.read_text(encoding="utf-8"))
            for module, (path, is_package) in MODULES.items()}


IMPORTS = _imports()


def _project_module(name: str) -> str | None:
    """The project module a dotted name resolves to (``pkg.mod.attr`` -> ``pkg.mod``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _graph() -> dict[str, dict[str, int]]:
    """module -> {imported project module: first line}."""
    graph: dict[str, dict[str, int]] = {}
    for module, names in IMPORTS.items():
        edges = graph.setdefault(module, {})
        for name, line in names:
            target = _project_module(name)
            if target is not None and target != module:
                edges.setdefault(target, line)
    return graph


def _cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
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
                    components.append(sorted(component))
    return components


def _describe(component: list[str], graph: dict[str, dict[str, int]]) -> str:
    lines = [" <-> ".join(component)]
    for module in component:
        path = MODULES[module][0].relative_to(REPO)
        lines += [f"    {path}:{line} imports {target}"
                  for target, line in sorted(graph[module].items()) if target in component]
    return "\n".join(lines)


def test_the_walk_sees_the_whole_project_and_function_local_imports():
    assert {"scmis_core.train", "scmis_core.data.rooms", "scmis_core.data.rooms.render",
            "scmis_ros.synth_node"} <= set(MODULES)
    assert "scmis_core.config" in _graph()["scmis_core.train"]
    source = ("import os\nfrom . import config\n\n"
              "def f():\n    from .models.generator import SCMISGenerator\n"
              "    if True:\n        from ..data import rooms\n")
    names = _file_imports("scmis_core.data.x", False, source)
    assert ("scmis_core.data.config", 2) in names
    assert ("scmis_core.data.models.generator.SCMISGenerator", 5) in names
    assert ("scmis_core.data.rooms", 7) in names
    names = _file_imports("scmis_core.data", True, "from .rooms import render_room\n")
    assert _project_module(names[-1][0]) == "scmis_core.data.rooms"


def test_the_cycle_finder_finds_cycles():
    graph = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3, "d": 4}, "d": {}, "e": {"e": 1}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b": 1}, "b": {}}) == []


def test_no_import_cycles():
    """Imports go one way only (function-local imports included), so the layers read
    bottom-up: config/data/models/losses -> engine -> trainers/evaluation -> CLIs -> ROS."""
    graph = _graph()
    found = _cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(_describe(c, graph) for c in found)


def test_scmis_core_never_imports_ros():
    """scmis_core runs without ROS: no rclpy, no message packages, no scmis_ros."""
    offending = []
    for module, names in IMPORTS.items():
        if not module.startswith("scmis_core"):
            continue
        for name, line in names:
            top = name.split(".")[0]
            if top in ROS_MODULES or top == "scmis_ros":
                offending.append(f"{MODULES[module][0].relative_to(REPO)}:{line} imports {name}")
    assert not offending, "scmis_core must not depend on ROS:\n" + "\n".join(offending)
