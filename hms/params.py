"""Reading params.yaml. Each stage reads only its own keys so that DVC reruns only what changed."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

import yaml

from hms.errors import ConfigError

T = TypeVar("T")

DEFAULT_PARAMS = Path("params.yaml")


def load_params(path: str | Path = DEFAULT_PARAMS) -> dict[str, Any]:
    with open(path) as fh:
        return yaml.safe_load(fh) or {}


def to_dataclass(cls: type[T], values: dict[str, Any] | None, where: str) -> T:
    """Build a config dataclass from a params block; unknown keys are an error, not ignored.
    Every problem (unknown key, a value the dataclass rejects) is a ConfigError naming the block."""
    if values is not None and not isinstance(values, dict):
        raise ConfigError(f"params.yaml: block '{where}' must be a mapping of keys to values, not {type(values).__name__} {values!r}")
    values = dict(values or {})
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(
            f"params.yaml: unknown key(s) {unknown} in block '{where}'; known keys: {sorted(names)}"
        )
    try:
        return cls(**values)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:  # the dataclass's own checks (__post_init__)
        raise ConfigError(f"params.yaml block '{where}': {exc}") from exc


def deep_merge(base: dict[str, Any], over: dict[str, Any] | None) -> dict[str, Any]:
    """`base` with `over` merged in: nested blocks merge key by key, other values are replaced."""
    import copy

    out = copy.deepcopy(base)
    for key, value in (over or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def merge_params_file(params_path: str | Path, overrides_path: str | Path) -> dict[str, Any]:
    """params.yaml deep-merged with a config file such as configs/full.yaml (unknown top-level blocks are an error)."""
    base = load_params(params_path)
    over = load_params(overrides_path)
    unknown = sorted(set(over) - set(base))
    if unknown:
        raise ValueError(f"{overrides_path}: block(s) {unknown} are not in {params_path}")
    return deep_merge(base, over)


def apply_overrides(params: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `key.sub=value` overrides (values parsed as YAML), as `dvc exp run -S` does."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"override {item!r} is not of the form key.sub=value")
        node = params
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = yaml.safe_load(value)
    return params
