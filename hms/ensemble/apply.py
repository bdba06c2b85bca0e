"""A trained ensemble applied to new data: the blender saved by the `stack` stage and every base
model it blends, loaded sealed through hms.models.trained. `hms predict` and `hms scan` predict
through here; the blender JSON is plain data (never a pickle)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from hms.ensemble.blenders import blender_from_json
from hms.models.trained import ModelDirError, TrainedModel, inside, load_trained

BLENDER_FILE = "blender.json"
ENSEMBLE_DIR = "ensemble"


def load_blender(path: str | os.PathLike):
    """The fitted blender saved by the stack stage (models/ensemble/blender.json)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no fitted blender; run `dvc repro stack` (or point --models at a trained models/ dir)")
    return blender_from_json(json.loads(path.read_text()))


def blend(blender, probs_by_model: dict[str, np.ndarray]) -> np.ndarray:
    """Apply a fitted blender to {model: (n, 6) probabilities} (any extra models are ignored)."""
    missing = [m for m in blender.models if m not in probs_by_model]
    if missing:
        raise ValueError(f"blender needs predictions of {missing}")
    return blender.predict(np.stack([probs_by_model[m] for m in blender.models]))


def feature_key(kind: str, features: Mapping[str, Any]) -> str:
    """One key per distinct feature config, so models trained on the same features share them."""
    return f"{kind}-" + hashlib.sha256(json.dumps(features, sort_keys=True).encode()).hexdigest()[:10]


@dataclass
class Ensemble:
    blender: Any  # hms.ensemble.blenders.PoolBlender | StackerBlender
    models: dict[str, TrainedModel]

    @property
    def feature_configs(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """key -> (kind, feature config) of every feature set the base models need."""
        return {feature_key(m.kind, m.features): (m.kind, m.features) for m in self.models.values()}

    def predict_base(self, features: Mapping[str, np.ndarray | pd.DataFrame]) -> dict[str, np.ndarray]:
        """{model: (n, 6)} from {feature key: inputs} (keys of feature_configs)."""
        out = {}
        for name, model in self.models.items():
            key = feature_key(model.kind, model.features)
            if key not in features:
                raise KeyError(f"{name} needs the {model.kind} features {key}; build every entry of feature_configs")
            out[name] = model.predict(features[key])
        return out

    def predict(self, features: Mapping[str, np.ndarray | pd.DataFrame]) -> np.ndarray:
        return blend(self.blender, self.predict_base(features))


def load_ensemble(models_dir: Path) -> Ensemble:
    """The blender of models_dir/ensemble/blender.json and every base model it blends."""
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        raise ModelDirError(f"{models_dir}: no such models directory; train first (dvc repro) or pass --models")
    blender = load_blender(inside(models_dir / ENSEMBLE_DIR / BLENDER_FILE, models_dir))
    return Ensemble(blender, {name: load_trained(models_dir, name) for name in blender.models})
