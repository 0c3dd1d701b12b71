"""The local cluster's code (e2e/local/localcluster) has no import cycle, a lazy import inside a function included.

``images`` used to import ``node`` for containerd's store and ``node`` to
import ``images`` for the pause image; ``settings`` now says where the store
is, and ``images`` imports nothing of the node. The node, split by what it
manages (``node_files``, ``node_host``, ``node_cgroups``), has one store path:
``settings.containerd_root``.
"""

from __future__ import annotations

import ast
from pathlib import Path

from localcluster import settings

PACKAGE = Path(settings.__file__).parent


def imports_of(module: Path) -> set[str]:
    """The package's modules ``module`` imports, anywhere in it (``from . import x``, ``from .x import y``)."""
    found = set()
    for statement in ast.walk(ast.parse(module.read_text())):
        if isinstance(statement, ast.ImportFrom) and statement.level == 1:
            if statement.module:
                found.add(statement.module.split(".")[0])
            else:
                found.update(alias.name for alias in statement.names)
    return found


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph``, as the modules along it; None when there is none."""
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> list[str] | None:
        if name in path:
            return path[path.index(name):] + [name]
        if name in done:
            return None
        for imported in sorted(graph.get(name, ())):
            if (found := visit(imported, [*path, name])) is not None:
                return found
        done.add(name)
        return None

    return next((found for name in sorted(graph) if (found := visit(name, [])) is not None), None)


def test_no_module_of_the_local_cluster_imports_itself_back():
    graph = {path.stem: imports_of(path) for path in PACKAGE.glob("*.py")}
    assert "node" not in graph["images"]
    assert cycle(graph) is None


def test_the_cycle_finder_finds_one():
    assert cycle({"images": {"node"}, "node": {"images"}}) == ["images", "node", "images"]

