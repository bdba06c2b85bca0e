"""The project files a Python file imports, transitively, found by reading the code (ast).

Two users: the DVC deps test (every stage must list what its command imports) and the fold cache
of the training driver (a fold is reused only if none of the code behind it changed). Imports
inside functions count too: they run whenever that function does."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterable

PACKAGE = "hms"


def module_file(module: str, root: Path) -> Path | None:
    """root/hms/a/b.py or root/hms/a/b/__init__.py for `hms.a.b`; None when neither exists."""
    base = root.joinpath(*module.split("."))
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def _package_inits(module: str, root: Path) -> list[Path]:
    """Importing hms.a.b runs hms/__init__.py and hms/a/__init__.py first."""
    parts = module.split(".")
    out = []
    for i in range(1, len(parts)):
        init = root.joinpath(*parts[:i], "__init__.py")
        if init.is_file():
            out.append(init)
    return out


def _module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imported_modules(path: Path, root: Path) -> set[str]:
    """Names of the project modules `path` imports directly (candidates; see imported_files)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    here = _module_name(path, root) if path.is_relative_to(root) else ""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against this module's package
                package = (here if path.name == "__init__.py" else here.rpartition(".")[0]).split(".")
                package = package[: len(package) - (node.level - 1)]
                base = ".".join(package + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)  # `from hms.a import b` may import module hms.a.b
    return {n for n in names if n == PACKAGE or n.startswith(PACKAGE + ".")}


def imported_files(roots: Iterable[Path], root: Path) -> set[Path]:
    """Every project file that running `roots` imports, transitively, `roots` included."""
    root = Path(root).resolve()
    todo = [Path(p).resolve() for p in roots]
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for module in imported_modules(path, root):
            f = module_file(module, root)
            if f is not None:
                todo.append(f.resolve())
                todo.extend(p.resolve() for p in _package_inits(module, root))
    return seen
