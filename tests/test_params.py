"""One source of truth for defaults, and presets that work with DVC: params.yaml is exactly the
`default` preset of the typed configs; `hms preset` switches presets in place (comments kept,
byte-identical round trip); the typed configs refuse unknown keys and bad values."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from hms.params import ConfigError, read_params, to_dataclass
from hms.presets import PRESETS, apply_preset, defaults, preset
from tests.conftest import REPO


def test_params_yaml_is_the_default_preset() -> None:
    """Every value of params.yaml equals its typed config's default, and no key is missing or extra."""
    assert yaml.safe_load((REPO / "params.yaml").read_text()) == defaults()


@pytest.mark.parametrize("name", [p for p in PRESETS if p != "default"])
def test_preset_round_trip_keeps_the_file_byte_for_byte(name: str, tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    shutil.copy(REPO / "params.yaml", path)
    original = path.read_text()
    changed = apply_preset(name, path)
    assert changed and yaml.safe_load(path.read_text()) == preset(name)
    text = path.read_text()
    assert text.splitlines()[0].startswith(f"# The `{name}` preset")
    # every comment line of the original is still there
    comments = [ln for ln in original.splitlines() if ln.lstrip().startswith("#")]
    assert [ln for ln in text.splitlines() if ln.lstrip().startswith("#")][1:] == comments[1:]
    apply_preset("default", path)
    assert path.read_text() == original


def test_presets_are_complete_and_valid() -> None:
    """Each preset builds every typed config (what the stages will do), so a bad preset fails here."""
    from hms.ensemble.config import stack_config
    from hms.models.registry import get_spec

    for name in PRESETS:
        p = preset(name)
        for model in p["models"]:
            spec = get_spec(model)
            spec.config(p[spec.family], p[model])
        stack_config(p["stack"])
    assert preset("tiny")["synth"]["size"] == "tiny" and preset("tiny")["folds"] == 3
    full = preset("full")
    assert full["data"]["source"] == "kaggle"  # the real data: no synthetic dataset
    assert full["lgbm"]["num_boost_round"] > preset("default")["lgbm"]["num_boost_round"]  # GBDTs included


def test_bad_preset_name_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    from hms.cli import main

    with pytest.raises(ConfigError, match="unknown preset 'medium'; presets: tiny, default, full"):
        preset("medium")
    with pytest.raises(SystemExit) as exc:
        main(["preset", "medium"])
    assert exc.value.code == 2 and "invalid choice: 'medium'" in capsys.readouterr().err


def test_a_stale_key_in_the_params_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text((REPO / "params.yaml").read_text().replace("folds: 5\n", "folds: 5\nfoldz: 3\n"))
    with pytest.raises(ConfigError, match=r"\['foldz'\] belong to no configuration"):
        apply_preset("tiny", path)


def test_read_params_returns_only_the_declared_keys(tmp_path: Path) -> None:
    p = read_params(("seed", "data.dir", "features.signal"), REPO / "params.yaml")
    assert set(p) == {"seed", "data", "features"}
    assert set(p["data"]) == {"dir"} and set(p["features"]) == {"signal"}
    with pytest.raises(ConfigError, match="no key 'nn.nope'"):
        read_params(("nn.nope",), REPO / "params.yaml")


def test_typed_configs_refuse_unknown_keys_and_bad_values() -> None:
    from hms.models.registry import get_spec

    spec = get_spec("wave")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['widht'\] in block 'wave'"):
        spec.config({}, {"widht": [8]})
    with pytest.raises(ConfigError, match="nn.optimizer"):
        spec.config({"optimizer": "lion"}, {})
    with pytest.raises(ConfigError, match="loop: unknown key"):
        spec.config({}, {"loop": {"epochz": 1}})
    from hms.data.prepare import PrepareConfig

    with pytest.raises(ConfigError, match="unknown key"):
        to_dataclass(PrepareConfig, {"agregation": "eeg"}, "prepare")


def test_pretrained_without_local_weights_is_refused_not_downloaded() -> None:
    from hms.models.registry import get_spec

    spec = get_spec("efficientnet")
    with pytest.raises(ConfigError, match="pretrained: true needs `weights`, a local timm weights file"):
        spec.config({}, {"pretrained": True})
    with pytest.raises(ConfigError, match="hub names are refused"):
        spec.config({}, {"backbone": "hf-hub:timm/efficientnet_b0.ra_in1k"})


def _model_config(name: str, shared: dict[str, Any], own: dict[str, Any]) -> Any:
    from hms.models.registry import get_spec

    return get_spec(name).config(shared, own)


def _loop_override() -> None:
    """A model block's `loop` override is only checked when the training loop merges it into `nn`."""
    from hms.train.nn.config import effective_loop

    cfg = _model_config("wave", {}, {"loop": {"optimizer": "lion"}})
    effective_loop(cfg.shared, cfg.own)


def _zoom_longer_than_waves() -> None:
    from hms.models.registry import get_spec

    spec = get_spec("resnet")
    spec.build(spec.config({}, {"zoom_seconds": 60.0}), (36, 50 * 40))  # 50 s of waves (2 montages) at 40 Hz


def _features(kind: str, block: dict[str, Any]) -> Any:
    from hms.features.build import parse_config

    return parse_config(kind, block)


def _band_above_nyquist() -> None:
    import numpy as np

    from hms.signal.preprocess import preprocess

    sig, _ = _features("waves", {"signal": {"band_hz": [0.5, 150.0]}})
    preprocess(np.zeros((1, 20, 10_000), dtype=np.float32), sig)


def _synth(size: str) -> None:
    from hms.synth.config import get_config

    get_config(size)


def _aggregation(aggregation: str) -> None:
    import pandas as pd

    from hms.constants import VOTE_COLS
    from hms.data.targets import make_samples

    make_samples(pd.DataFrame(columns=list(VOTE_COLS)), aggregation)  # type: ignore[arg-type]


def _scan_threshold(threshold: float) -> None:
    from hms.recording.events import EventConfig

    EventConfig(threshold=threshold)


# Settings checked outside to_dataclass (which turns any ValueError of a block into a ConfigError) are
# the ones that used to exit 1 ("bug"): a loop override, a net built for its inputs, the features
# block, the filter, synth, prepare, scan options. Each must be a ConfigError, exit status 2.
BAD_SETTINGS = [
    ("nn.optimizer", lambda: _model_config("wave", {"optimizer": "lion"}, {}), "nn.optimizer must be one of"),
    ("wave.loop.optimizer", _loop_override, "nn.optimizer must be one of"),
    ("wave.widths", lambda: _model_config("wave", {}, {"widths": [8, 16], "kernels": [5]}), r"wave: widths \[8, 16\], kernels \[5\]"),
    ("resnet.zoom_seconds", _zoom_longer_than_waves, "zoom_seconds=60.0 exceeds the 50 s of the waves"),
    ("efficientnet.drop_path_rate", lambda: _model_config("efficientnet", {}, {"drop_path_rate": 1.0}),
     "drop_rate and drop_path_rate must be in"),
    ("wave.montage", lambda: _model_config("wave", {}, {"montage": "laplacian"}), "wave.montage: each must be one of"),
    ("wave.tta_shifts", lambda: _model_config("wave", {}, {"tta_shifts": [4, 0]}), "tta_shifts must be a list of non-zero integers"),
    ("nn.smooth_eps", lambda: _model_config("wave", {"smooth_eps": 1.0}, {}), r"nn.smooth_eps must be in \[0, 1\)"),
    ("gbdt.weight_cap", lambda: _model_config("lgbm", {"weight_cap": 0}, {}), "gbdt: weight_cap must be >= 1"),
    ("catboost.rsm", lambda: _model_config("catboost", {}, {"device": "gpu"}), "rsm < 1 is not supported on GPU"),
    ("features.waves.fs_out", lambda: _features("waves", {"waves": {"fs_out": 500}}), "features.waves.fs_out must be in"),
    ("features.tabular.montages", lambda: _features("tabular", {"tabular": {"montages": ["average", "average"]}}),
     r"features.tabular.montages: each must be one of \('bipolar', 'average'\), at least one and none twice"),
    ("features.mosaic.montage", lambda: _features("mosaic", {"mosaic": {"montage": "laplacian"}}),
     "features.mosaic.montage: each must be one of"),
    ("features.wavez", lambda: _features("waves", {"wavez": {}}), r"unknown key\(s\) \['wavez'\] in block 'features'"),
    ("features.signal.band_hz", _band_above_nyquist, r"band-pass 0.5-150.0 Hz \(features.signal.band_hz\)"),
    ("synth.size", lambda: _synth("huge"), "synth.size must be one of"),
    ("prepare.aggregation", lambda: _aggregation("rows"), "prepare.aggregation must be 'eeg' or 'row'"),
    ("scan --threshold", lambda: _scan_threshold(1.5), r"event threshold \(--threshold\) must be in \(0, 1\)"),
]


@pytest.mark.parametrize("make, pattern", [c[1:] for c in BAD_SETTINGS], ids=[c[0] for c in BAD_SETTINGS])
def test_bad_settings_are_config_errors(make: Callable[[], Any], pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        make()
