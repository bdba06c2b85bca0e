"""`catboost`: CatBoost on the handcrafted features (features/tabular), soft vote targets: row expansion + the built-in softmax `MultiClass` loss.

Why row expansion here (and not a custom objective): CatBoost runs Python objectives and
metrics through a per-row callback that is orders of magnitude slower than its C++ losses and
not available on GPU. Expanding each eeg into one copy per class with a non-zero target
(label = class, weight = target share x row weight) makes the weighted `MultiClass` log-loss
exactly the soft cross-entropy (`softlabel.expand_soft_labels`; checked in tests). The
validation set is expanded the same way with row weight 1, so CatBoost's weighted `MultiClass`
eval metric is mean soft cross-entropy = validation KL + the targets' mean entropy (a constant):
early stopping on it is early stopping on the validation KL, and the curve we log is the KL.
(`MultiCrossEntropy` would be six independent sigmoids: not the competition's loss.)
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from catboost import CatBoostClassifier, Pool
from scipy.special import entr, softmax

from hms.constants import CLASSES, N_CLASSES
from hms.errors import ConfigError
from hms.io import atomic_path
from hms.metrics import kl_divergence
from hms.models.spec import ModelConfig
from hms.train.gbdt.config import GbdtConfig
from hms.train.gbdt.data import FoldData
from hms.train.gbdt.family import gbdt_spec
from hms.train.gbdt.softlabel import expand_soft_labels
from hms.train.gbdt.stages import StageOutcome, hq_rows, keep_stage2

log = logging.getLogger(__name__)
METRIC = "MultiClass"


@dataclass
class CatboostConfig:
    learning_rate: float = 0.15
    depth: int = 4
    l2_leaf_reg: float = 3.0
    rsm: float = 0.2  # feature subsampling per split (CPU only)
    border_count: int = 32
    # Plain: classic gradient boosting. CatBoost's own default on small data is Ordered (less
    # overfitting on tiny sets, several times slower on CPU): blow the budget on the default data.
    boosting_type: Literal["Plain", "Ordered"] = "Plain"
    iterations: int = 500
    early_stopping_rounds: int = 30
    threads: int = 2
    device: Literal["cpu", "gpu"] = "cpu"

    def __post_init__(self) -> None:
        if self.device not in ("cpu", "gpu"):
            raise ConfigError(f"params.yaml catboost.device must be cpu or gpu, not {self.device!r}")
        if self.boosting_type not in ("Plain", "Ordered"):
            raise ConfigError(f"params.yaml catboost.boosting_type must be Plain or Ordered, not {self.boosting_type!r}")
        if self.device == "gpu" and self.rsm < 1:
            # CatBoost supports rsm on GPU only for pairwise losses; refusing beats silently ignoring it.
            raise ConfigError("params.yaml catboost: rsm < 1 is not supported on GPU; set catboost.rsm: 1.0 with device: gpu")


def model_params(cfg: CatboostConfig, seed: int, iterations: int) -> dict[str, Any]:
    params: dict[str, Any] = {
        "loss_function": METRIC,
        "eval_metric": METRIC,
        "classes_count": N_CLASSES,
        "iterations": iterations,
        "learning_rate": cfg.learning_rate,
        "depth": cfg.depth,
        "l2_leaf_reg": cfg.l2_leaf_reg,
        "border_count": cfg.border_count,
        "boosting_type": cfg.boosting_type,
        "random_seed": seed,
        "thread_count": cfg.threads,
        "task_type": "GPU" if cfg.device == "gpu" else "CPU",
        "od_type": "Iter",
        "od_wait": cfg.early_stopping_rounds,
        "use_best_model": True,  # shrink to the best validation round
        "verbose": False,
        "allow_writing_files": False,  # no catboost_info/ in the working tree
    }
    if cfg.device == "cpu":
        params["rsm"] = cfg.rsm
    return params


def _pool(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> Pool:
    xe, label, we, _ = expand_soft_labels(x, y, w)
    return Pool(xe, label=label, weight=we)


def _kl_curve(model: CatBoostClassifier, yv: np.ndarray) -> list[float]:
    """Validation KL per round: CatBoost's weighted MultiClass on the expanded set minus the entropy."""
    ce = model.get_evals_result()["validation"][METRIC]
    mean_entropy = float(entr(yv).sum(axis=1).mean())
    return [float(v) - mean_entropy for v in ce]


def _boost(cfg: CatboostConfig, seed: int, iterations: int, x: np.ndarray, y: np.ndarray, w: np.ndarray,
           xv: np.ndarray, yv: np.ndarray, init_model: CatBoostClassifier | None) -> tuple[CatBoostClassifier, list[float]]:
    model = CatBoostClassifier(**model_params(cfg, seed, iterations))
    model.fit(_pool(x, y, w), eval_set=_pool(xv, yv, np.ones(len(yv))), init_model=init_model)
    return model, _kl_curve(model, yv)


def train(cfg: CatboostConfig, gb: GbdtConfig, data: FoldData, seed: int) -> tuple[CatBoostClassifier, StageOutcome]:
    """Stage 1 on all training eegs, optional stage 2 on the hq ones; returns the fold model."""
    stage1, curve = _boost(cfg, seed, cfg.iterations, data.x_train, data.y_train, data.w_train,
                           data.x_valid, data.y_valid, None)
    best = stage1.tree_count_  # use_best_model already shrank it to the best round
    outcome = StageOutcome(best_iteration=best, valid_kl=float(curve[best - 1]), curve=curve)
    final = stage1
    tr, va, reason = hq_rows(gb, data)
    if tr is not None and not (data.y_train[tr] > 0).any(axis=0).all():
        # CatBoost infers the class count of a continued model from the labels present, and refuses to
        # continue a 6-class model on data with fewer ("different approx dimension"). Only tiny data hits this.
        absent = [CLASSES[c] for c in np.flatnonzero(~(data.y_train[tr] > 0).any(axis=0))]
        reason = f"skipped: no votes for {absent} among the fold's hq training eegs"
        log.warning("fold %d: hq stage %s", data.fold, reason)
        tr = None
    outcome.hq_stage = reason or outcome.hq_stage
    if tr is not None:
        xv, yv = data.x_valid[va], data.y_valid[va]
        before = kl_divergence(yv, probabilities(stage1, xv, cfg.threads))
        stage2, hq_curve = _boost(cfg, seed, gb.hq_rounds, data.x_train[tr], data.y_train[tr], data.w_train[tr],
                                  xv, yv, stage1)
        best2 = stage2.tree_count_ - best
        outcome.hq_curve, outcome.hq_valid_kl_before = hq_curve, before
        if best2 > 0 and keep_stage2(hq_curve[best2 - 1], before):
            final = stage2
            outcome.hq_stage, outcome.hq_rounds, outcome.hq_valid_kl = "kept", best2, float(hq_curve[best2 - 1])
        else:
            outcome.hq_stage, outcome.hq_valid_kl = "no gain", before
    return final, outcome


def save(model: CatBoostClassifier, path: Path) -> None:
    # CatBoost stamps each model (and the stage-1 model it continued) with a random GUID and the time
    # training ended: dropped, so that the same params give a byte-identical .cbm (a DVC output)
    model = model.copy()
    meta = model.get_metadata()
    for key in [k for k in meta.keys() if k.split(":")[-1] in ("model_guid", "train_finish_time")]:
        del meta[key]
    with atomic_path(path, suffix=".cbm") as tmp:
        model.save_model(str(tmp), format="cbm")


def load(path: Path) -> CatBoostClassifier:
    model = CatBoostClassifier()
    model.load_model(str(path), format="cbm")
    return model


def probabilities(model: CatBoostClassifier, x: np.ndarray, threads: int) -> np.ndarray:
    raw = model.predict(x, prediction_type="RawFormulaVal", thread_count=threads)
    return softmax(np.asarray(raw, dtype=np.float64).reshape(len(x), N_CLASSES), axis=1)


def importance(model: CatBoostClassifier) -> np.ndarray:
    """PredictionValuesChange per feature (needs no data)."""
    return np.asarray(model.get_feature_importance(), dtype=np.float64)


def search_space(trial: Any, cfg: ModelConfig) -> dict[str, Any]:
    """`hms tune catboost`: learning rate, depth, L2 and feature subsampling (rsm: CPU only) over CatBoost's
    usual ranges. Own block only: applying it changes no other model."""
    space = {
        "catboost.learning_rate": trial.suggest_float("catboost.learning_rate", 0.02, 0.3, log=True),
        "catboost.depth": trial.suggest_int("catboost.depth", 3, 8),
        "catboost.l2_leaf_reg": trial.suggest_float("catboost.l2_leaf_reg", 0.3, 30.0, log=True),
    }
    if cfg.own.device == "cpu":
        space["catboost.rsm"] = trial.suggest_float("catboost.rsm", 0.05, 0.6, log=True)
    return space


SPEC = dataclasses.replace(gbdt_spec("catboost", CatboostConfig, suffix=".cbm", train=train, probabilities=probabilities,
                                     save=save, load=load, importance=importance), search_space=search_space)
