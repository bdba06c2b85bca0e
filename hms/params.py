"""Reading params.yaml. A stage reads exactly the keys dvc.yaml declares for it (`read_params`),
so DVC reruns only what a change touches; the library itself never sees the params dict."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any, Iterable, TypeVar

import yaml

from hms.errors import ConfigError

T = TypeVar("T")

DEFAULT_PARAMS = Path("params.yaml")


def load_params(path: str | Path = DEFAULT_PARAMS) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: params file not found; run from the repository root")
    try:
        with open(path) as fh:
            return yaml.safe_load(fh) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None


def read_params(keys: Iterable[str], path: str | Path = DEFAULT_PARAMS) -> dict[str, Any]:
    """Only `keys` (dotted paths such as `data.dir`) of the params file, as a nested dict."""
    params = load_params(path)
    out: dict[str, Any] = {}
    for key in keys:
        node: Any = params
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                raise ConfigError(f"{path}: no key {key!r}; every stage needs the keys dvc.yaml declares for it "
                                  "(`hms preset default` writes a complete file)")
            node = node[part]
        target = out
        *parents, leaf = key.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = copy.deepcopy(node)
    return out


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
    except (TypeError, ValueError) as exc:  # the dataclass's own checks (__post_init__)
        # their ConfigErrors too: a check shared by several blocks (a net's keys) cannot name the block
        raise ConfigError(f"params.yaml block '{where}': {exc}") from exc


def deep_merge(base: dict[str, Any], over: dict[str, Any] | None) -> dict[str, Any]:
    """`base` with `over` merged in: nested blocks merge key by key, other values are replaced."""
    out = copy.deepcopy(base)
    for key, value in (over or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def apply_overrides(params: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `key.sub=value` overrides (values parsed as YAML), as `dvc exp run -S` does."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"override {item!r} is not of the form key.sub=value")
        node = params
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = yaml.safe_load(value)
    return params
