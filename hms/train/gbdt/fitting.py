"""The fold loop of the GBDT models: train (or resume) one model per fold, OOF and test predictions.

model_dir (= models/<name>/):
  fold{k}.txt | fold{k}.cbm   native fold model (LightGBM text, CatBoost cbm)
  fold{k}.json                the fold's params hash, best rounds, validation KL and curves
  config.json                 model params, feature columns, feature config (for `hms predict`)
  importance.csv / .png       feature importance (mean share over folds)
A fold whose fold{k}.json carries the current hash (params, seed, library version and a hash of
the fold's data) is reused instead of retrained.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from hms.constants import N_CLASSES
from hms.features.store import read_config
from hms.io import write_json
from hms.models.registry import FitResult, get_spec
from hms.seed import derive_seed
from hms.train.gbdt import catboost_model, lightgbm_model
from hms.train.gbdt.config import as_dict, load_configs
from hms.train.gbdt.curves import log_curves
from hms.train.gbdt.data import FoldData, check_folds, fold_split, read_features, stable_hash, targets
from hms.train.gbdt.importance import importance_table, write_importance
from hms.train.gbdt.softlabel import vote_weights

log = logging.getLogger(__name__)

BACKENDS: dict[str, ModuleType] = {"lgbm": lightgbm_model, "catboost": catboost_model}
CONFIG_FILE = "config.json"


def backend(name: str) -> ModuleType:
    if name not in BACKENDS:
        raise KeyError(f"hms.train.gbdt: no GBDT model {name!r}; known: {sorted(BACKENDS)}")
    return BACKENDS[name]


def fold_model_path(model_dir: Path, name: str, k: int) -> Path:
    return Path(model_dir) / f"fold{k}{backend(name).SUFFIX}"


def fold_meta_path(model_dir: Path, k: int) -> Path:
    return Path(model_dir) / f"fold{k}.json"


def default_live_dir(model_dir: Path, name: str) -> Path:
    """models/<name> -> dvclive/<name> (beside models/), the path dvc.yaml declares."""
    return Path(model_dir).parent.parent / "dvclive" / name


def fold_data(train: pd.DataFrame, x: np.ndarray, y: np.ndarray, w: np.ndarray, hq: np.ndarray,
              folds: np.ndarray, k: int) -> FoldData:
    tr, va = fold_split(folds, k)
    ids = train["sample_id"].to_numpy(np.int64)
    return FoldData(fold=k, train_ids=ids[tr], valid_ids=ids[va], x_train=x[tr], y_train=y[tr], w_train=w[tr],
                    hq_train=hq[tr], x_valid=x[va], y_valid=y[va], hq_valid=hq[va])


def train_fold(name: str, cfg: Any, gb: Any, data: FoldData, seed: int, model_dir: Path, key: str) -> dict[str, Any]:
    """Train one fold, write fold{k}.<ext> then fold{k}.json (the json marks the fold as finished)."""
    start = time.perf_counter()
    outcome = backend(name).train(cfg, gb, data, seed, fold_model_path(model_dir, name, data.fold))
    meta = {"hash": key, "seconds": round(time.perf_counter() - start, 2), "n_train": len(data.train_ids),
            "n_valid": len(data.valid_ids), **outcome.to_json()}
    write_json(meta, fold_meta_path(model_dir, data.fold))
    return meta


def finished_fold(name: str, model_dir: Path, k: int, key: str) -> dict[str, Any] | None:
    meta_path = fold_meta_path(model_dir, k)
    if not (meta_path.is_file() and fold_model_path(model_dir, name, k).is_file()):
        return None
    meta = json.loads(meta_path.read_text())
    return meta if meta.get("hash") == key else None


def fit(name: str, params: dict[str, Any], train: pd.DataFrame, test: pd.DataFrame, features_dir: Path,
        model_dir: Path, live_dir: Path | None = None) -> FitResult:
    """Per-fold training with early stopping on each fold's validation KL; see the module docstring."""
    gb, cfg = load_configs(name, params)
    seed, n_folds = int(params["seed"]), int(params["folds"])
    features_dir, model_dir = Path(features_dir), Path(model_dir)
    lib = backend(name)
    if not (features_dir / CONFIG_FILE).is_file():
        raise FileNotFoundError(f"{features_dir / CONFIG_FILE}: feature config not found; run the feature stage "
                                f"(dvc repro features@{get_spec(name).features})")
    x, columns = read_features(features_dir, "train", train)
    x_test, _ = read_features(features_dir, "test", test, columns)
    y = targets(train)
    w = vote_weights(train["n_votes"].to_numpy(), gb.weight_power, gb.weight_cap)
    hq = train["n_votes"].to_numpy() >= gb.hq_min_votes
    folds = check_folds(train, n_folds)
    model_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_folds(name, model_dir, n_folds)

    settings = {"name": name, "gbdt": as_dict(gb), "model": as_dict(cfg), "library": lib.LIBRARY_VERSION,
                "columns": columns}
    oof = np.full((len(train), N_CLASSES), np.nan)
    metas: dict[int, dict[str, Any]] = {}
    resumed: list[int] = []
    for k in tqdm(range(n_folds), desc=f"{name} folds", leave=False):
        data = fold_data(train, x, y, w, hq, folds, k)
        fold_seed = derive_seed(seed, name, k)
        key = stable_hash({**settings, "seed": fold_seed, "data": data.fingerprint()})
        meta = finished_fold(name, model_dir, k, key)
        if meta is None:
            meta = train_fold(name, cfg, gb, data, fold_seed, model_dir, key)
        else:
            resumed.append(k)
            log.info("%s fold %d: finished model with the same params and data found, reused", name, k)
        metas[k] = meta
        _, va = fold_split(folds, k)
        oof[va] = lib.probabilities(lib.load(fold_model_path(model_dir, name, k)), x[va], cfg.threads)
        log.info("%s fold %d: valid KL %.4f after %d rounds, hq stage %s (%d rounds)", name, k,
                 meta["valid_kl"], meta["best_iteration"], meta["hq_stage"], meta["hq_rounds"])

    config = {
        "name": name,
        "kind": get_spec(name).features,
        "features": read_config(features_dir),
        "feature_columns": columns,
        "folds": list(range(n_folds)),
        "threads": cfg.threads,
        "seed": seed,
        "model_params": as_dict(cfg),
        "gbdt": as_dict(gb),
        "library_version": lib.LIBRARY_VERSION,
        "fold_hashes": {str(k): metas[k]["hash"] for k in metas},
    }
    write_json(config, model_dir / CONFIG_FILE)
    # Test predictions through exactly the code path of `predict` (saved fold models, same matrix).
    test_pred = predict_matrix(name, model_dir, config, x_test)

    table = importance_table([lib.importance(lib.load(fold_model_path(model_dir, name, k))) for k in range(n_folds)],
                             columns)
    write_importance(table, model_dir, f"{name}: feature importance ({n_folds} folds)")
    log_curves(live_dir or default_live_dir(model_dir, name), metas)
    extra = {
        "n_features": len(columns),
        "resumed_folds": resumed,
        "fold_fits": {str(k): {key_: m[key_] for key_ in ("best_iteration", "valid_kl", "hq_stage", "hq_rounds",
                                                           "hq_valid_kl_before", "hq_valid_kl", "seconds")}
                      for k, m in metas.items()},
    }
    return FitResult(oof=oof, test=test_pred, extra=extra)


def predict_matrix(name: str, model_dir: Path, config: dict[str, Any], x: np.ndarray) -> np.ndarray:
    """Mean over the fold models of their softmax probabilities."""
    lib = backend(name)
    probs = np.zeros((len(x), N_CLASSES))
    for k in config["folds"]:
        path = fold_model_path(model_dir, name, k)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: fold model missing; retrain with `dvc repro train@{name}`")
        probs += lib.probabilities(lib.load(path), x, config["threads"])
    return probs / len(config["folds"])


def predict(name: str, model_dir: Path, features_dir: Path, samples: pd.DataFrame, split: str = "test") -> np.ndarray:
    """(n, 6) probabilities for `samples` from features_dir/<split>.parquet, averaged over the fold models."""
    model_dir, features_dir = Path(model_dir), Path(features_dir)
    config_path = model_dir / CONFIG_FILE
    if not config_path.is_file():
        raise FileNotFoundError(f"{config_path}: not found; train the model first (dvc repro train@{name})")
    config = json.loads(config_path.read_text())
    if config.get("name") != name:
        raise ValueError(f"{config_path}: holds model {config.get('name')!r}, not {name!r}")
    if not (features_dir / CONFIG_FILE).is_file():
        raise FileNotFoundError(f"{features_dir / CONFIG_FILE}: feature config not found; build the features with "
                                f"the model's config['features']")
    used = read_config(features_dir)
    if used != config["features"]:
        diff = sorted(k for k in set(used) | set(config["features"]) if used.get(k) != config["features"].get(k))
        raise ValueError(f"{features_dir}: features built with a different config than {name} was trained on "
                         f"(keys {diff}); rebuild them from {config_path} key 'features'")
    x, _ = read_features(features_dir, split, samples, config["feature_columns"])
    return predict_matrix(name, model_dir, config, x)


def _remove_stale_folds(name: str, model_dir: Path, n_folds: int) -> None:
    """Fold files of an earlier run with more folds would be mistaken for this run's models."""
    for path in sorted(model_dir.glob("fold*")):
        stem = path.name.split(".")[0][len("fold"):]
        if stem.isdigit() and int(stem) >= n_folds:
            log.info("removing %s (left by a run with more folds)", path)
            path.unlink()
