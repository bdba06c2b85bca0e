"""Trained base models as prediction reads them: the one reader of a model dir's config.json and a
model's fold models. Used by the training driver for its test predictions and, through
hms.ensemble.apply, by `hms predict` and `hms scan`, so all three predict alike.

Sealed: only registered model names are loaded, only the fold files the driver names (fold<k><suffix>,
and fold<k>-seed<j><suffix> for a fold's further seeds) inside the models directory (no symlink or `..`
escapes), torch checkpoints with weights_only=True, and no model config may point at a hub."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hms.errors import ConfigError
from hms.models.registry import get_spec
from hms.models.spec import ModelConfig, ModelSpec

CONFIG_FILE = "config.json"
FIT_FILE = "fit.json"


class ModelDirError(ConfigError):
    """A models directory that cannot be trusted or read: names the file and what to do."""


def fold_file(fold: int, suffix: str, seed: int = 0) -> str:
    """fold<k><suffix>; a fold's further seeds (the spec's `seeds`, e.g. `nn.seeds`): fold<k>-seed<j><suffix>."""
    return f"fold{int(fold)}{suffix}" if seed == 0 else f"fold{int(fold)}-seed{int(seed)}{suffix}"


def fits(folds: list[int], seeds: int) -> list[tuple[int, int]]:
    """The (fold, seed) models of a model dir, in the driver's order: a fold's seeds one after the other."""
    return [(int(k), j) for k in folds for j in range(seeds)]


def inside(path: Path, root: Path) -> Path:
    real = path.resolve()
    if not real.is_relative_to(root.resolve()):
        raise ModelDirError(f"{path}: resolves to {real}, outside the models directory {root}; refusing to read it")
    return real


def read_model_config(models_dir: Path, name: str) -> dict[str, Any]:
    """models_dir/<name>/config.json, checked: it must describe registered model `name`."""
    spec = get_spec(name)  # refuses unregistered names (and so any path in a name) first
    path = inside(Path(models_dir) / name / CONFIG_FILE, Path(models_dir))
    if not path.is_file():
        raise ModelDirError(f"{path}: missing; train the model first (dvc repro train@{name})")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelDirError(f"{path}: not valid JSON ({exc}); retrain the model (dvc repro train@{name})") from None
    for key in ("name", "kind", "features", "params", "folds", "input_shape"):
        if key not in config:
            raise ModelDirError(f"{path}: no key {key!r}; it was written by an older version, retrain (dvc repro train@{name})")
    if config["name"] != name or config["kind"] != spec.features:
        raise ModelDirError(f"{path}: describes model {config['name']!r} on {config['kind']!r} features, "
                            f"not {name!r} on {spec.features!r}")
    return config


@dataclass
class TrainedModel:
    spec: ModelSpec
    cfg: ModelConfig
    config: dict[str, Any]
    models: list[Any]  # one per fold, or per (fold, seed) with several seeds

    @property
    def kind(self) -> str:
        return self.spec.features

    @property
    def features(self) -> dict[str, Any]:
        """The feature config the model was trained on (features/<kind>/config.json then)."""
        return self.config["features"]

    def predict(self, x: np.ndarray | pd.DataFrame) -> np.ndarray:
        """(n, 6) probabilities, the mean over the fold models (and their seeds). Tabular models take a table
        with the training feature columns (any order) or a matrix already in that column order."""
        x = self._matrix(x)
        if self.spec.predict_mean is not None:
            return self.spec.predict_mean(self.cfg, self.models, x)
        total = np.zeros((len(x), 6))
        for model in self.models:
            total += self.spec.predict(self.cfg, model, x, None)
        return total / len(self.models)

    def _matrix(self, x: np.ndarray | pd.DataFrame) -> np.ndarray:
        name, shape = self.spec.name, list(self.config["input_shape"])
        if isinstance(x, pd.DataFrame):
            columns = self.config.get("feature_columns") or []
            missing = [c for c in columns if c not in x.columns]
            if missing:
                raise ValueError(f"{name}: feature column(s) {missing[:5]} missing; the features were built with "
                                 "another config than the model was trained on")
            x = x[columns].to_numpy(np.float32)
        if list(x.shape[1:]) != shape:
            raise ValueError(f"{name}: inputs of shape {list(x.shape[1:])}, the model was trained on {shape}; "
                             "build the features with the model's config (config.json key 'features')")
        return x


def load_trained(models_dir: Path, name: str) -> TrainedModel:
    """Base model `name` from models_dir/<name>: its config and every fold model."""
    models_dir = Path(models_dir)
    spec = get_spec(name)
    config = read_model_config(models_dir, name)
    try:
        cfg = spec.config(config["params"].get(spec.family), config["params"].get(name))
    except (TypeError, ValueError) as exc:
        raise ModelDirError(f"{models_dir / name / CONFIG_FILE}: params do not fit model {name} ({exc}); retrain it") from None
    models = []
    for k, j in fits(config["folds"], spec.n_seeds(cfg)):
        path = inside(models_dir / name / fold_file(k, spec.suffix, j), models_dir)
        if not path.is_file():
            raise ModelDirError(f"{path}: fold model missing; retrain (dvc repro train@{name})")
        try:
            models.append(spec.load(cfg, path, tuple(config["input_shape"])))
        except ConfigError:
            raise
        except ValueError as exc:  # the net refuses the recorded input shape (e.g. 18-channel waves of before stop 21)
            raise ModelDirError(f"{path}: cannot rebuild the model it holds ({exc}); it was trained by another "
                                f"version or on other features: retrain (dvc repro train@{name})") from None
    return TrainedModel(spec, cfg, config, models)
