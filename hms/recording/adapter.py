"""TEMPORARY stand-in for `hms.models.trained.load_ensemble` (issue 9) on the current models/
layout: delete this module once that lands and call load_ensemble instead (hms/recording/predict.py
`load_models` is the only caller).

It exposes the same interface (`feature_configs`, `predict(features)`) and goes through the code
`hms predict` uses: each model's saved config.json (hms.predict.read_model_config), the GBDT
backends' `load` / `probabilities`, the neural nets' `create_model` + state dict (weights_only) +
`predict_rows` (normalisation, flip TTA), and the saved blender (`blend`). Unlike the `predict`
functions of hms.train.*, which read a features directory and reload every fold model per call,
it loads each fold model once and predicts on in-memory arrays, which is what a scan needs, and
`predict` may be called from several threads at once (torch forward passes in eval mode are; the
GBDT boosters take turns).
Mosaic and waves features are rounded to float16 first, as the feature stores hold them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import threading
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hms.ensemble.stack import BLENDER_FILE, blend, load_blender
from hms.features.tabular import feature_manifest
from hms.predict import read_model_config
from hms.predictions import check_probabilities
from hms.recording.timing import StepTimer

FLOAT16_KINDS = ("mosaic", "waves")
log = logging.getLogger(__name__)


def features_key(kind: str, features: dict[str, Any]) -> str:
    """One key per distinct (kind, features config): models trained on the same features share it."""
    digest = hashlib.sha1(json.dumps(features, sort_keys=True).encode()).hexdigest()[:8]
    return f"{kind}-{digest}"


@dataclasses.dataclass
class _Unit:
    name: str
    key: str
    kind: str
    predict: Callable[[np.ndarray], np.ndarray]


class LegacyEnsemble:
    """Every base model the saved blender blends, loaded once, and the blender."""

    def __init__(self, models_dir: str | Path, tta: bool = True, timer: StepTimer | None = None,
                 jit: bool = False, min_weight: float = 0.0) -> None:
        models_dir = Path(models_dir)
        self.blender = load_blender(models_dir / "ensemble" / BLENDER_FILE)
        self.timer = timer or StepTimer()
        self.feature_configs: dict[str, tuple[str, dict[str, Any]]] = {}
        self.units: list[_Unit] = []
        weights = self.blender.model_weights()
        self.skipped = [m for m in self.blender.models if weights[m] < min_weight]
        for name in self.skipped:
            log.warning("not running %s: its blend weight %.2g is below --min-weight %g; a uniform prediction stands "
                        "in for it (a constant in the log pool, so its term drops out)", name, weights[name], min_weight)
        for name in [m for m in self.blender.models if m not in self.skipped]:
            cfg = read_model_config(models_dir / name)
            key = features_key(cfg["kind"], cfg["features"])
            self.feature_configs[key] = (cfg["kind"], cfg["features"])
            fn = _gbdt(name, models_dir / name, cfg) if cfg["kind"] == "tabular" else _nn(name, models_dir / name, tta, jit)
            self.units.append(_Unit(name, key, cfg["kind"], fn))

    @property
    def models(self) -> list[str]:
        return [u.name for u in self.units]

    def predict_base(self, features: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """{model: (n, 6) probabilities, mean over its fold models}."""
        out = {}
        for u in self.units:
            x = features[u.key]
            if u.kind in FLOAT16_KINDS:
                x = x.astype(np.float16)
            with self.timer(f"model {u.name}"):
                p = np.asarray(u.predict(x), dtype=np.float64)
            check_probabilities(p, f"{u.name} predictions")
            out[u.name] = p
        return out

    def predict(self, features: dict[str, np.ndarray]) -> np.ndarray:
        base = self.predict_base(features)
        n = len(next(iter(base.values()))) if base else len(next(iter(features.values())))
        base.update({m: np.full((n, 6), 1 / 6) for m in self.skipped})
        with self.timer("blend"):
            return blend(self.blender, base)


def _gbdt(name: str, model_dir: Path, cfg: dict[str, Any]) -> Callable[[np.ndarray], np.ndarray]:
    from hms.features.build import parse_config
    from hms.train.gbdt.fitting import backend, fold_model_path

    lib = backend(name)
    boosters = []
    for k in cfg["folds"]:
        path = fold_model_path(model_dir, name, k)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: fold model missing; retrain with `dvc repro train@{name}`")
        boosters.append(lib.load(path))
    _, tab_cfg = parse_config("tabular", cfg["features"])
    manifest = feature_manifest(tab_cfg)["column"].tolist()
    missing = [c for c in cfg["feature_columns"] if c not in manifest]
    if missing:
        raise ValueError(f"{model_dir}/config.json: feature columns {missing[:5]} are not produced by its features config")
    cols = np.array([manifest.index(c) for c in cfg["feature_columns"]])
    threads = 1  # a few dozen rows per call: more threads only add synchronisation (the result is the same)
    lock = threading.Lock()  # the scan scores batches in parallel threads; the boosters take turns (about 1 % of the time)

    def predict(x: np.ndarray) -> np.ndarray:
        xs = np.ascontiguousarray(x[:, cols])
        with lock:
            return sum(lib.probabilities(b, xs, threads) for b in boosters) / len(boosters)

    return predict


def _jit_backbone(model: Any) -> Any:
    """Measured option, not the default: the image models' timm backbone traced, frozen and
    optimised for inference by torch.jit (BatchNorm folded into the convolutions): outputs equal to
    float rounding (< 1e-6), the forward pass 1.6-1.9x faster on CPU (docs/scan.md)."""
    import torch

    if not hasattr(model, "backbone"):
        return model
    size = tuple(model.image_size) if model.image_size else (64, 64)
    example = torch.zeros(8, model.channels, *size)
    with torch.no_grad():
        model.backbone = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model.backbone.eval(), example)))
    return model


def _nn(name: str, model_dir: Path, tta: bool, jit: bool = False) -> Callable[[np.ndarray], np.ndarray]:
    from hms.models.nets import get_net, model_config
    from hms.train.nn.config import LoopConfig
    from hms.train.nn.crossval import _load_model, read_model_config as read_nn_config
    from hms.train.nn.device import make_runtime
    from hms.train.nn.loop import predict_rows

    config = read_nn_config(model_dir, name)
    spec = get_net(name)
    model_cfg = model_config(name, config["model"])
    if not tta:
        model_cfg = dataclasses.replace(model_cfg, tta_flip=False)
    loop = LoopConfig(**config["loop"])
    rt = make_runtime(loop, image_model=spec.features == "mosaic")
    nets = []
    for k in config["folds"]:
        path = model_dir / f"fold{k}.pt"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: fold model missing; rerun training (dvc repro train@{name})")
        net = _load_model(name, model_cfg, tuple(config["input_shape"]), path, rt)
        nets.append(_jit_backbone(net) if jit else net)
    shape = list(config["input_shape"])

    def predict(x: np.ndarray) -> np.ndarray:
        if list(x.shape[1:]) != shape:
            raise ValueError(f"{name}: features of shape {list(x.shape[1:])}, the model expects {shape}")
        rows = np.arange(len(x))
        return sum(predict_rows(m, x, rows, model_cfg, spec.features, rt, loop.eval_batch_size)[0] for m in nets) / len(nets)

    return predict
