"""Which base models exist: a module `hms/models/<name>.py` exporting SPEC is a registered model
(timm-style: registered where it is defined). `get_spec` is the only place that imports a model
module by name; the DVC deps test follows it (stage `train@NAME` imports hms/models/NAME.py)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from hms.models.spec import ModelSpec

PACKAGE = Path(__file__).parent
# modules of this package that are the machinery, not models
NOT_MODELS = frozenset({"__init__", "spec", "registry", "trained"})
_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")


class UnknownModelError(ValueError):
    """A model name that is not a registered base model (also refuses names that are not identifiers)."""


def module_path(name: str) -> Path:
    return PACKAGE / f"{name}.py"


def model_names() -> list[str]:
    """Every registered base model, sorted."""
    return sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in NOT_MODELS and _NAME.fullmatch(p.stem))


def get_spec(name: str) -> ModelSpec:
    """The spec of base model `name`; an unknown name is an error that lists the registered ones."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name in NOT_MODELS or not module_path(name).is_file():
        raise UnknownModelError(f"unknown model {name!r}; registered models: {', '.join(model_names())}")
    module = importlib.import_module(f"hms.models.{name}")
    spec = getattr(module, "SPEC", None)
    if not isinstance(spec, ModelSpec) or spec.name != name:
        raise UnknownModelError(f"hms/models/{name}.py does not export SPEC = ModelSpec(name={name!r}, ...)")
    return spec
