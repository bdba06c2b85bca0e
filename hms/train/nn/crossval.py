"""fit / predict of the neural models: per-fold training with resume, OOF and fold-averaged test
predictions, fold checkpoints as state dicts.

model_dir/
  config.json     name, kind, model and loop params, lr, seed, input shape, the feature config
                  (features_dir/config.json), params_hash: everything `predict` needs
  fold{k}.pt      state dict of fold k's best epoch (torch.load(..., weights_only=True))
  fold{k}.json    its history: per-epoch losses and validation KL, best epoch, seconds
A fold whose .pt and .json exist under the same params_hash is not retrained (resume after an
interruption); a changed hash clears the fold files first.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from hms.constants import HQ_MIN_VOTES
from hms.data.targets import TARGET_COLS
from hms.features.store import open_array, read_config
from hms.io import atomic_path, write_json
from hms.models.nets import NetConfig, create_model, get_net, model_config
from hms.models.registry import FitResult
from hms.seed import derive_seed
from hms.signal.montage import BIPOLAR_NAMES, PANELS
from hms.train.nn.config import LoopConfig, loop_config
from hms.train.nn.device import Runtime, make_runtime
from hms.train.nn.loop import FoldInputs, FoldResult, predict_rows, train_fold

log = logging.getLogger(__name__)

CONFIG = "config.json"


def fold_rows(train: pd.DataFrame, fold: int) -> tuple[np.ndarray, np.ndarray]:
    """(training rows, validation rows) of `fold` as positions in the prepared train table."""
    folds = train["fold"].to_numpy()
    if fold not in set(folds.tolist()):
        raise ValueError(f"fold {fold} not in the prepared train table (folds {sorted(set(folds.tolist()))})")
    return np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)


def check_feature_layout(kind: str, features_cfg: dict[str, Any], features_dir: Path) -> None:
    """The nets assume the panel / channel order of hms.signal.montage (tiling, chains, flips)."""
    layout = features_cfg.get("layout")
    if layout is None:
        log.warning("%s/config.json has no 'layout': cannot check panel / channel order", features_dir)
        return
    key, expected = ("panels", list(PANELS)) if kind == "mosaic" else ("channels", list(BIPOLAR_NAMES))
    if list(layout.get(key, [])) != expected:
        raise ValueError(f"{features_dir}/config.json: layout.{key} is {layout.get(key)}, the {kind} models need "
                         f"{expected}; set params.yaml features.{kind} back to that order and rerun the feature stage")


def build_config(name: str, params: dict[str, Any], train: pd.DataFrame, features_dir: Path,
                 input_shape: tuple[int, ...]) -> dict[str, Any]:
    """config.json of a fit; `params_hash` covers everything that changes the trained models."""
    model_cfg = model_config(name, params.get(name))
    loop = loop_config(params, model_cfg, name)
    data_hash = hashlib.sha256()
    for col in ("sample_id", "fold", *TARGET_COLS, "n_votes"):
        data_hash.update(np.ascontiguousarray(train[col].to_numpy()).tobytes())
    config = {
        "name": name,
        "kind": get_net(name).features,
        "model": dataclasses.asdict(model_cfg),
        "loop": dataclasses.asdict(loop),
        "lr": float(params["lr"]) * model_cfg.lr_mult,
        "seed": int(params["seed"]),
        "folds": sorted(int(k) for k in train["fold"].unique()),
        "input_shape": list(input_shape),
        "features": read_config(features_dir),
        "train_data_sha256": data_hash.hexdigest(),
        "torch": torch.__version__,
    }
    config["params_hash"] = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return config


def fit(name: str, params: dict[str, Any], train: pd.DataFrame, test: pd.DataFrame, features_dir: Path,
        model_dir: Path, *, live_dir: Path | None = None) -> FitResult:
    """Train `name` on every fold (resuming finished folds), return OOF and fold-averaged test
    probabilities. Curves go through dvclive to `live_dir`, by default `dvclive/<name>` beside the
    `models/` folder that holds model_dir (the DVC stage's `dvclive/${key}` out)."""
    features_dir, model_dir = Path(features_dir), Path(model_dir)
    spec = get_net(name)
    train = train.reset_index(drop=True)
    array, _ = open_array(features_dir, "train", expected_ids=train["sample_id"].to_numpy())
    config = build_config(name, params, train, features_dir, tuple(array.shape[1:]))
    check_feature_layout(spec.features, config["features"], features_dir)
    model_cfg = model_config(name, config["model"])
    loop = LoopConfig(**config["loop"])
    rt = make_runtime(loop, image_model=spec.features == "mosaic")
    _prepare_model_dir(model_dir, config)

    from dvclive import Live  # imported here: dvclive is slow to import and only fit needs it

    targets = train[list(TARGET_COLS)].to_numpy(np.float32)
    n_votes = train["n_votes"].to_numpy()
    oof = np.full((len(train), 6), np.nan)
    fold_info: dict[str, Any] = {}
    live_dir = Path(live_dir) if live_dir is not None else model_dir.parent.parent / "dvclive" / name
    with Live(str(live_dir), save_dvc_exp=False, dvcyaml=None, report=None) as live:
        def log_epoch(fold: int, epoch: int, row: dict[str, Any]) -> None:
            live.step = epoch
            for key in ("train_loss", "valid_loss", "valid_kl_all", "valid_kl_hq"):
                if row.get(key) is not None:
                    live.log_metric(f"fold{fold}/{key}", float(row[key]))

        for k in config["folds"]:
            train_rows, valid_rows = fold_rows(train, k)
            info = _finished_fold(model_dir, k)
            if info is None:
                inputs = FoldInputs(array, targets, n_votes, train_rows, valid_rows)
                result = train_fold(name, spec.features, model_cfg, loop, config["lr"], rt, inputs,
                                    derive_seed(config["seed"], name, k), k, HQ_MIN_VOTES, on_epoch=log_epoch)
                _save_fold(model_dir, k, result)
                info = _fold_json(result)
            else:
                log.info("%s fold %d: resumed from %s (best epoch %d)", name, k, model_dir / f"fold{k}.pt", info["best_epoch"])
                for row in info["history"]:  # keep the curves complete after a resume
                    log_epoch(k, row["epoch"], row)
            # OOF through the saved checkpoint, the same path as predict()
            model = _load_model(name, model_cfg, tuple(config["input_shape"]), model_dir / f"fold{k}.pt", rt)
            oof[valid_rows], _ = predict_rows(model, array, valid_rows, model_cfg, spec.features, rt, loop.eval_batch_size)
            fold_info[str(k)] = {key: info[key] for key in ("best_epoch", "best_score", "seconds")}
    test_probs = predict(name, model_dir, features_dir, test, split="test")
    extra = {"device": str(rt.device), "lr": config["lr"], "params_hash": config["params_hash"],
             "best_epochs": {k: v["best_epoch"] for k, v in fold_info.items()},
             "fold_train_seconds": {k: round(v["seconds"], 1) for k, v in fold_info.items()}}
    return FitResult(oof=oof, test=test_probs, extra=extra)


def predict(name: str, model_dir: Path, features_dir: Path, samples: pd.DataFrame, split: str = "test") -> np.ndarray:
    """(n, 6) probabilities for `samples` from features_dir/<split>: the mean over fold models."""
    model_dir, features_dir = Path(model_dir), Path(features_dir)
    config = read_model_config(model_dir, name)
    spec = get_net(name)
    model_cfg = model_config(name, config["model"])
    loop = LoopConfig(**config["loop"])
    features_cfg = read_config(features_dir)
    if features_cfg != config["features"]:
        raise ValueError(f"{features_dir}/config.json differs from the feature config the model in {model_dir} was "
                         f"trained on ({model_dir / CONFIG} key 'features'); rebuild the features with that config")
    array, _ = open_array(features_dir, split, expected_ids=samples["sample_id"].to_numpy())
    if list(array.shape[1:]) != config["input_shape"]:
        raise ValueError(f"{features_dir}/{split}.npy: samples of shape {list(array.shape[1:])}, the model in "
                         f"{model_dir} expects {config['input_shape']}")
    rt = make_runtime(loop, image_model=spec.features == "mosaic")
    rows = np.arange(len(array))
    total = np.zeros((len(array), 6))
    for k in config["folds"]:
        path = model_dir / f"fold{k}.pt"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: fold model missing; rerun training (dvc repro train@{name})")
        model = _load_model(name, model_cfg, tuple(config["input_shape"]), path, rt)
        probs, _ = predict_rows(model, array, rows, model_cfg, spec.features, rt, loop.eval_batch_size)
        total += probs
    return total / len(config["folds"])


def read_model_config(model_dir: Path, name: str) -> dict[str, Any]:
    path = Path(model_dir) / CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no model config; train the model first (dvc repro train@{name})")
    config = json.loads(path.read_text())
    if config.get("name") != name:
        raise ValueError(f"{path} holds model {config.get('name')!r}, not {name!r}")
    return config


def _load_model(name: str, cfg: NetConfig, input_shape: tuple[int, ...], path: Path, rt: Runtime) -> torch.nn.Module:
    if getattr(cfg, "pretrained", False):
        # the checkpoint holds the weights: never download or read pretrained weights to predict
        cfg = dataclasses.replace(cfg, pretrained=False, weights=None)
    model = create_model(name, cfg, input_shape)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    model = model.to(rt.device)
    if rt.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model.eval()


def _prepare_model_dir(model_dir: Path, config: dict[str, Any]) -> None:
    """Keep finished folds only when they were trained under the same params_hash."""
    model_dir.mkdir(parents=True, exist_ok=True)
    path = model_dir / CONFIG
    old = json.loads(path.read_text()).get("params_hash") if path.is_file() else None
    stale = sorted(model_dir.glob("fold*.pt")) + sorted(model_dir.glob("fold*.json"))
    if old != config["params_hash"] and stale:
        log.info("%s: params changed (hash %s -> %s): retraining every fold", model_dir, old, config["params_hash"])
        for f in stale:
            f.unlink()
    write_json(config, path)


def _save_fold(model_dir: Path, k: int, result: FoldResult) -> None:
    with atomic_path(model_dir / f"fold{k}.pt", suffix=".pt") as tmp:
        torch.save(result.state, tmp)
    # written after the checkpoint: a fold counts as done only when both exist
    write_json(_fold_json(result), model_dir / f"fold{k}.json")


def _fold_json(result: FoldResult) -> dict[str, Any]:
    return {"best_epoch": result.best_epoch, "best_score": result.best_score, "seconds": result.seconds,
            "history": result.history}


def _finished_fold(model_dir: Path, k: int) -> dict[str, Any] | None:
    """fold{k}.json of a fold trained under the current params_hash, None when it must be trained."""
    pt, js = model_dir / f"fold{k}.pt", model_dir / f"fold{k}.json"
    if pt.is_file() and js.is_file():
        return json.loads(js.read_text())
    return None
