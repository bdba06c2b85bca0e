"""Reading params.yaml. Each stage reads only its own keys so that DVC reruns only what changed."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")

DEFAULT_PARAMS = Path("params.yaml")


def load_params(path: str | Path = DEFAULT_PARAMS) -> dict[str, Any]:
    with open(path) as fh:
        return yaml.safe_load(fh) or {}


def to_dataclass(cls: type[T], values: dict[str, Any] | None, where: str) -> T:
    """Build a config dataclass from a params block; unknown keys are an error, not ignored."""
    values = dict(values or {})
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(
            f"params.yaml: unknown key(s) {unknown} in block '{where}'; known keys: {sorted(names)}"
        )
    return cls(**values)
