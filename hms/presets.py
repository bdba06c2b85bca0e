"""Named complete configurations: `tiny` (the tests), `default` (`make repro`) and `full` (the real
data on a GPU). `default` is the typed configs' defaults, the one source of truth (tests check
params.yaml against it); configs/<name>.yaml holds what tiny and full change. `hms preset NAME`
rewrites params.yaml in place with ruamel's round-trip mode, so every comment and the key order stay."""

from __future__ import annotations

import dataclasses
import io
import re
from pathlib import Path
from typing import Any

from hms.params import ConfigError, deep_merge, load_params

PRESETS = ("tiny", "default", "full")
CONFIGS = Path(__file__).resolve().parents[1] / "configs"
SEED, FOLDS, FEATURE_WORKERS = 42, 5, 2
HEADER = re.compile(r"^# The `[a-z]+` preset")


def defaults() -> dict[str, Any]:
    """params.yaml of the `default` preset, from the typed configs of every block."""
    from hms.data.layout import DataConfig
    from hms.data.prepare import PrepareConfig
    from hms.ensemble.config import StackConfig
    from hms.features.build import KIND_CONFIGS
    from hms.models.registry import get_spec, model_names
    from hms.signal.preprocess import SignalConfig
    from hms.synth.config import SynthParams

    asdict = dataclasses.asdict
    specs = [get_spec(name) for name in model_names()]
    out: dict[str, Any] = {
        "seed": SEED, "folds": FOLDS, "data": asdict(DataConfig()), "synth": asdict(SynthParams()),
        "prepare": asdict(PrepareConfig()),
        "features": {"workers": FEATURE_WORKERS, "signal": asdict(SignalConfig()),
                     **{kind: asdict(cls()) for kind, cls in KIND_CONFIGS.items()}},
        "models": {s.name: {"family": s.family, "features": s.features} for s in specs},
    }
    for s in specs:
        out.setdefault(s.family, asdict(s.shared_config()))
        out[s.name] = asdict(s.own_config())
    out["stack"] = asdict(StackConfig())
    return out


def preset(name: str) -> dict[str, Any]:
    """The complete params of preset `name`."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
    base = defaults()
    if name == "default":
        return base
    overlay = load_params(CONFIGS / f"{name}.yaml")
    _check_keys(overlay, base, f"configs/{name}.yaml")
    return deep_merge(base, overlay)


def _check_keys(over: dict[str, Any], base: dict[str, Any], where: str, prefix: str = "") -> None:
    for key, value in over.items():
        if key not in base and prefix != "models.":
            raise ConfigError(f"{where}: unknown key {prefix}{key}")
        if isinstance(value, dict) and isinstance(base.get(key), dict) and not (key == "loop" or prefix == "models."):
            _check_keys(value, base[key], where, f"{prefix}{key}.")


def write_params(values: dict[str, Any], path: Path, label: str) -> list[str]:
    """Set params file `path` to `values` in place and return the changed keys. Only the value text of a
    changed line is replaced (its comment keeps its column where it fits), so comments, blank lines and
    key order stay, and switching presets back and forth restores the file byte for byte. A key of the
    file that `values` lacks, or the reverse, is an error."""
    from ruamel.yaml import YAML

    path = Path(path)
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    changed: list[str] = []
    _update(YAML().load(text), values, "", lines, changed)
    if lines and HEADER.match(lines[0]):
        lines[0] = HEADER.sub(f"# The `{label}` preset", lines[0])
    path.write_text("".join(lines))
    return changed


def _update(node: Any, values: dict[str, Any], prefix: str, lines: list[str], changed: list[str]) -> None:
    from ruamel.yaml.comments import CommentedMap

    stale = [prefix + str(k) for k in node if k not in values]
    missing = [prefix + k for k in values if k not in node]
    if stale or missing:
        raise ConfigError(f"params file: key(s) {stale} belong to no configuration and key(s) {missing} are "
                          "missing; fix the file (compare with `git show HEAD:params.yaml`)")
    for key, value in values.items():
        old = node[key]
        block = isinstance(old, CommentedMap) and node.lc.value(key)[0] > node.lc.key(key)[0]
        if isinstance(value, dict) and block:
            _update(old, value, f"{prefix}{key}.", lines, changed)
        elif _plain(old) != value:
            line, col = node.lc.value(key)
            lines[line] = _replace_value(lines[line], col, _flow(value))
            changed.append(prefix + key)


def _replace_value(line: str, col: int, new: str) -> str:
    """`line` with the value starting at `col` replaced by `new`; an end-of-line comment keeps its column."""
    body = line.rstrip("\n")
    hash_at = body.find(" #", col)
    if hash_at < 0:
        return body[:col] + new + "\n"
    comment_col = hash_at + 1
    return body[:col] + new + " " * max(1, comment_col - col - len(new)) + body[comment_col:] + "\n"


def _flow(value: Any) -> str:
    """How a value prints in flow style ("null", "[0.5, 20.0]", "{family: nn, features: waves}")."""
    from ruamel.yaml import YAML

    y = YAML(typ="safe", pure=True)
    y.default_flow_style = True
    y.width = 4096
    buf = io.StringIO()
    y.dump({"k": value}, buf)
    return buf.getvalue().strip()[len("{k: "):-1]


def _plain(x: Any) -> Any:
    """ruamel's round-trip types (ScalarFloat, CommentedSeq, ...) as plain Python values."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_plain(v) for v in x]
    for t in (bool, int, float, str):
        if isinstance(x, t):
            return t(x)
    return x


def apply_preset(name: str, path: Path = Path("params.yaml")) -> list[str]:
    """Rewrite params file `path` as preset `name`; returns the keys that changed."""
    return write_params(preset(name), Path(path), name)
