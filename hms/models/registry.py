"""The base models. Adding a model = one entry here + one params block + its name in `stack.models`.

Each kind has one module with the same two entry points:
  fit(name, params, train, test, features_dir, model_dir) -> FitResult   (per-fold training, resumable)
  predict(name, model_dir, features_dir, samples) -> (n, 6) probabilities averaged over fold models
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np

Kind = Literal["gbdt", "nn"]
_KIND_MODULES = {"gbdt": "hms.train.gbdt", "nn": "hms.train.nn"}


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: Kind
    features: str  # the feature representation it eats: tabular | mosaic | waves


REGISTRY: dict[str, ModelSpec] = {
    "lgbm": ModelSpec("lgbm", "gbdt", "tabular"),
    "catboost": ModelSpec("catboost", "gbdt", "tabular"),
    "efficientnet": ModelSpec("efficientnet", "nn", "mosaic"),
    "resnet": ModelSpec("resnet", "nn", "mosaic"),
    "wave": ModelSpec("wave", "nn", "waves"),
}
BASE_MODELS: tuple[str, ...] = tuple(REGISTRY)


@dataclass
class FitResult:
    oof: np.ndarray  # (n_train, 6) probabilities, in the prepared train table's row order
    test: np.ndarray  # (n_test, 6) probabilities averaged over folds, in the prepared test table's order
    extra: dict[str, Any] = field(default_factory=dict)  # extra metrics (e.g. train time) for metrics/NAME.json


def get_spec(name: str) -> ModelSpec:
    if name not in REGISTRY:
        raise KeyError(f"unknown model {name!r}; registered: {sorted(REGISTRY)}")
    return REGISTRY[name]


def kind_module(name: str):
    return importlib.import_module(_KIND_MODULES[get_spec(name).kind])


def fitter(name: str) -> Callable[..., FitResult]:
    return kind_module(name).fit


def predictor(name: str) -> Callable[[str, Path, Path, Any], np.ndarray]:
    return kind_module(name).predict
