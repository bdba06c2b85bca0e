"""Tracking (hms/train/tracking.py): dvclive's system monitoring while training (CPU/RAM logged even without
a GPU driver), the optional W&B mirror in offline mode, and neither being part of what a model is (the fold
cache ignores the `tracking` block)."""

from __future__ import annotations

import glob
import logging
import time
from pathlib import Path

import numpy as np
import pytest

from hms.models.registry import get_spec
from hms.train.cache import FoldCache
from hms.train.crossval import cross_validate
from hms.train.tracking import WANDB_ENV, TrackingConfig
from tests.modelkit import toy_inputs


@pytest.fixture(scope="module")
def tabular(tmp_path_factory: pytest.TempPathFactory):
    return toy_inputs("tabular", tmp_path_factory.mktemp("tracking_data"))


def _cv(tiny_params: dict, data, root: Path, tracking: TrackingConfig, cache: Path):
    train, test, features = data
    spec = get_spec("lgbm")
    cfg = spec.config(tiny_params["gbdt"], tiny_params["lgbm"])
    return cross_validate(spec, cfg, tiny_params["seed"], train, test, features, root / "models" / "lgbm",
                          live_dir=root / "dvclive" / "lgbm", cache=FoldCache("lgbm", cache), tracking=tracking)


def test_system_metrics_are_logged_without_a_gpu_and_tracking_is_not_in_the_cache_key(
        tabular, tiny_params: dict, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="dvclive")  # e.g. its GPU traceback, or a setting it corrects
    on = _cv(tiny_params, tabular, tmp_path / "on", TrackingConfig(monitor_system=True), tmp_path / "cache")
    cpu = tmp_path / "on" / "dvclive" / "lgbm" / "plots" / "metrics" / "system" / "cpu" / "usage (%).tsv"
    for _ in range(50):  # the sampling thread writes its last mean as it stops
        if cpu.is_file():
            break
        time.sleep(0.1)
    rows = cpu.read_text().splitlines()
    assert rows[0].split("\t") == ["timestamp", "step", "usage (%)"] and len(rows) >= 2
    assert (cpu.parent.parent / "ram" / "usage (GB).tsv").is_file()
    assert not caplog.records, caplog.text  # dvclive 3.49's own monitor logs "Failed to monitor GPU metrics"
    summary = (tmp_path / "on" / "dvclive" / "lgbm" / "metrics.json").read_text()
    assert '"oof/kl_hq"' in summary
    # switching monitoring off trains nothing again: every fold comes from the cache, predictions identical
    off = _cv(tiny_params, tabular, tmp_path / "off", TrackingConfig(monitor_system=False), tmp_path / "cache")
    assert sorted(off.resumed) == [0, 1, 2] and np.array_equal(on.oof, off.oof) and np.array_equal(on.test, off.test)
    assert not (tmp_path / "off" / "dvclive" / "lgbm" / "plots" / "metrics" / "system").exists()


def test_wandb_mirror_in_offline_mode(tabular, tiny_params: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("wandb")
    for var, value in {"WANDB_MODE": "offline", "WANDB_DIR": tmp_path, "WANDB_CONFIG_DIR": tmp_path / "config",
                       "WANDB_CACHE_DIR": tmp_path / "cache_wandb", "WANDB_DATA_DIR": tmp_path / "data_wandb",
                       "WANDB_SILENT": "true"}.items():
        monkeypatch.setenv(var, str(value))
    monkeypatch.delenv(WANDB_ENV, raising=False)
    params = {**tiny_params, "lgbm": {**tiny_params["lgbm"], "boosting": "gbdt"}}  # gbdt has a stage-2 curve too
    _cv(params, tabular, tmp_path / "run", TrackingConfig(monitor_system=False, wandb=True), tmp_path / "cache")
    runs = glob.glob(str(tmp_path / "wandb" / "offline-run-*" / "run-*.wandb"))
    assert len(runs) == 1
    log = Path(runs[0]).read_bytes()  # W&B's record log (protobuf): keys are stored as plain UTF-8
    for key in (b"fold0/valid_kl", b"fold2/hq_valid_kl", b"oof/kl_hq", b"learning_rate", b"lgbm"):
        assert key in log, key
    # still written to dvclive as well
    assert (tmp_path / "run" / "dvclive" / "lgbm" / "plots" / "metrics" / "fold0" / "valid_kl.tsv").is_file()


def test_wandb_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(WANDB_ENV, raising=False)
    assert not TrackingConfig().wandb_on() and TrackingConfig(wandb=True).wandb_on()
    monkeypatch.setenv(WANDB_ENV, "1")
    assert TrackingConfig().wandb_on()
    monkeypatch.setenv(WANDB_ENV, "0")
    assert not TrackingConfig(wandb=True).wandb_on()
