"""The shape of the code: no import cycles in hms/ (counting imports inside functions too: a lazy
import is still a dependency), and the training loop knows nothing of model families."""

from __future__ import annotations

import ast
from pathlib import Path

from hms.imports import module_file
from tests.conftest import REPO


def _imports(path: Path) -> set[Path]:
    """Project files `path` imports anywhere (module level or inside functions)."""
    out: set[Path] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        for name in names:
            if name.startswith("hms"):
                f = module_file(name, REPO)
                if f is not None and f != path:
                    out.add(f)
    return out


def test_no_import_cycles() -> None:
    graph = {p: _imports(p) for p in (REPO / "hms").rglob("*.py")}
    # package __init__ files import their own children by design; a cycle is a path back to the start
    state: dict[Path, int] = {}
    stack: list[Path] = []

    def visit(p: Path) -> None:
        state[p] = 1
        stack.append(p)
        for q in graph.get(p, ()):
            if q.name == "__init__.py" and p.is_relative_to(q.parent):
                continue  # a module importing its own package's __init__ (runs first anyway)
            if state.get(q) == 1:
                cycle = stack[stack.index(q):] + [q]
                raise AssertionError("import cycle: " + " -> ".join(str(c.relative_to(REPO)) for c in cycle))
            if q not in state:
                visit(q)
        stack.pop()
        state[p] = 2

    for p in sorted(graph):
        if p not in state:
            visit(p)


def test_the_training_loop_knows_no_model_family() -> None:
    """hms/train/nn and the driver import no model module and no net (they get them through a ModelSpec)."""
    for path in [*(REPO / "hms/train/nn").glob("*.py"), REPO / "hms/train/crossval.py"]:
        for dep in _imports(path):
            rel = dep.relative_to(REPO).as_posix()
            assert not rel.startswith("hms/nets/"), f"{path.name} imports {rel}"
            assert not rel.startswith("hms/models/") or rel in ("hms/models/spec.py", "hms/models/registry.py",
                                                                  "hms/models/trained.py", "hms/models/__init__.py"), \
                f"{path.name} imports {rel}"
