"""DVC tells the truth: every stage lists every project file its command imports (transitively, by
reading the code), no base model's module is a dependency of another model's stage, and each stage
declares exactly the params its script reads. Stages are resolved with DVC's own API."""

from __future__ import annotations

import ast
import importlib.util
import shlex
from pathlib import Path
from typing import Any

import pytest

from hms.imports import imported_files
from hms.models.registry import model_names, module_path
from tests.conftest import REPO


@pytest.fixture(scope="module")
def stages() -> list[Any]:
    from dvc.repo import Repo

    with Repo(str(REPO)) as repo:
        return list(repo.index.stages)


def _script_and_args(stage: Any) -> tuple[Path, list[str]]:
    argv = shlex.split(stage.cmd if isinstance(stage.cmd, str) else " ".join(stage.cmd))
    assert argv[0] == "python" and argv[1].startswith("stages/"), f"{stage.addressing}: unexpected cmd {stage.cmd!r}"
    return REPO / argv[1], argv[2:]


def _roots(stage: Any) -> list[Path]:
    """The stage's script, plus the model module that hms.models.registry.get_spec imports for train@NAME
    (the one dynamic import of the project, by the documented name -> hms/models/NAME.py rule)."""
    script, args = _script_and_args(stage)
    roots = [script]
    if script.name == "train.py":
        roots.append(module_path(args[0]))
    return roots


def _file_deps(stage: Any) -> list[Path]:
    from dvc.dependency.param import ParamsDependency

    return [REPO / d.def_path for d in stage.deps if not isinstance(d, ParamsDependency)]


def _covered(path: Path, deps: list[Path]) -> bool:
    return any(path == d or path.is_relative_to(d) for d in deps)


def test_every_imported_project_file_is_a_dep(stages: list[Any]) -> None:
    missing = {}
    for stage in stages:
        deps = _file_deps(stage)
        files = imported_files(_roots(stage), REPO)
        lost = sorted(str(f.relative_to(REPO)) for f in files if not _covered(f, deps))
        if lost:
            missing[stage.addressing] = lost
    print(f"checked {len(stages)} stages: {sum(map(len, missing.values()))} missing deps")
    assert not missing, f"imported but not declared as deps: {missing}"


def test_every_stage_is_checked(stages: list[Any]) -> None:
    names = {s.addressing for s in stages}
    assert {f"train@{m}" for m in model_names()} <= names
    assert {"synth", "prepare", "baseline", "stack", "submit", "evaluate"} <= names


def test_no_model_module_is_a_dep_of_another_models_stage(stages: list[Any]) -> None:
    for stage in stages:
        own = stage.addressing.split("@")[1] if stage.addressing.startswith("train@") else None
        deps = _file_deps(stage)
        imported = imported_files(_roots(stage), REPO)
        for other in model_names():
            if other == own:
                continue
            path = module_path(other)
            assert not _covered(path, deps), f"{stage.addressing} depends on {path.relative_to(REPO)}"
            assert path.resolve() not in imported, f"{stage.addressing} imports {path.relative_to(REPO)}"


def test_no_dynamic_import_hides_a_dependency() -> None:
    """importlib / __import__ appear only in the registry (whose name rule the tests above follow)."""
    allowed = {REPO / "hms/models/registry.py"}
    for path in sorted((REPO / "hms").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            dynamic = (isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name))
                       and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__"))
            assert not dynamic or path in allowed, f"{path.relative_to(REPO)}:{node.lineno}: dynamic import"


def _declared_params(stage: Any) -> set[str]:
    from dvc.dependency.param import ParamsDependency

    keys: set[str] = set()
    for d in stage.deps:
        if isinstance(d, ParamsDependency):
            assert Path(d.def_path).name == "params.yaml", f"{stage.addressing}: params from {d.def_path}"
            keys.update(d.params)
    return keys


def _read_keys(stage: Any) -> set[str]:
    """The keys the stage script passes to read_params (its PARAMS or params_keys(*args))."""
    script, args = _script_and_args(stage)
    spec = importlib.util.spec_from_file_location(f"stage_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if hasattr(module, "params_keys"):
        return set(module.params_keys(*args))
    return set(module.PARAMS)


def test_each_stage_declares_exactly_the_params_it_reads(stages: list[Any]) -> None:
    for stage in stages:
        assert _declared_params(stage) == _read_keys(stage), stage.addressing


def test_stage_scripts_read_params_only_through_read_params() -> None:
    """A stage that opened params.yaml itself could read undeclared keys."""
    for script in sorted((REPO / "stages").glob("*.py")):
        names = {n.id for n in ast.walk(ast.parse(script.read_text())) if isinstance(n, ast.Name)}
        names |= {a.name for n in ast.walk(ast.parse(script.read_text())) if isinstance(n, (ast.Import, ast.ImportFrom))
                  for a in n.names}
        assert not names & {"load_params", "yaml", "open", "safe_load"}, script.name


def test_train_stages_match_the_model_specs(stages: list[Any]) -> None:
    """params.yaml `models` (the one list) agrees with each model's module: family and feature kind."""
    from hms.models.registry import get_spec
    from hms.params import load_params

    models = load_params(REPO / "params.yaml")["models"]
    for name, entry in models.items():
        spec = get_spec(name)
        assert entry == {"family": spec.family, "features": spec.features}, name
    train = {s.addressing.split("@")[1]: s for s in stages if s.addressing.startswith("train@")}
    assert sorted(train) == sorted(models)
    for name, stage in train.items():
        deps = {d.relative_to(REPO).as_posix() for d in _file_deps(stage)}
        assert f"features/{get_spec(name).features}" in deps, name
