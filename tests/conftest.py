"""Shared fixtures: the real Kaggle sample files, tiny params, and a tiny synthetic pipeline
(synth -> prepare -> features) built once per test session."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest


os.environ.setdefault("OMP_NUM_THREADS", "2")

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
KAGGLE_SAMPLE = FIXTURES / "kaggle_sample"


def load_tiny_params() -> dict[str, Any]:
    """The complete `tiny` preset (configs/tiny.yaml over the typed defaults)."""
    from hms.presets import preset

    return preset("tiny")


def default_feature_params() -> dict[str, Any]:
    """The `features` block of the repo's params.yaml (the configuration the committed models use), fresh
    on each call so a test may change it."""
    import yaml

    return yaml.safe_load((REPO / "params.yaml").read_text())["features"]


@pytest.fixture(scope="session")
def kaggle_sample() -> Path:
    return KAGGLE_SAMPLE


@pytest.fixture(scope="session")
def tiny_params() -> dict[str, Any]:
    return load_tiny_params()


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory, tiny_params: dict[str, Any]) -> Path:
    """A tiny synthetic dataset in the Kaggle layout."""
    from hms.synth import run_synth

    out = tmp_path_factory.mktemp("synth") / "data"
    s = tiny_params["synth"]
    run_synth(out, size=s["size"], seed=tiny_params["seed"], n_train_eegs=s["n_train_eegs"],
              n_test_eegs=s["n_test_eegs"], workers=1)
    return out


@pytest.fixture(scope="session")
def tiny_prepared(tiny_data: Path, tiny_params: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) prepared tables of the tiny dataset."""
    from hms.data.layout import DataDir
    from hms.data.prepare import PrepareConfig, prepare_test, prepare_train

    data = DataDir(tiny_data)
    cfg = PrepareConfig(**tiny_params["prepare"])
    return prepare_train(data, cfg, tiny_params["folds"], tiny_params["seed"]), prepare_test(data, cfg)


@pytest.fixture(scope="session")
def tiny_features(tmp_path_factory: pytest.TempPathFactory, tiny_data: Path,
                  tiny_prepared: tuple[pd.DataFrame, pd.DataFrame], tiny_params: dict[str, Any]) -> Path:
    """features/<kind>/ for every representation of the tiny dataset (train and test splits)."""
    from hms.data.layout import DataDir
    from hms.features.build import FEATURE_KINDS, build_features

    root = tmp_path_factory.mktemp("features")
    for kind in FEATURE_KINDS:
        for split, samples in zip(("train", "test"), tiny_prepared):
            build_features(kind, DataDir(tiny_data), split, samples, tiny_params["features"], root / kind, workers=1)
    return root
