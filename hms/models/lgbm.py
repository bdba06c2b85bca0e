"""`lgbm`: LightGBM on the handcrafted features (features/tabular), soft vote targets: a custom softmax cross-entropy objective over the 6 classes.

Why a custom objective here (and not row expansion): LightGBM >= 4 takes multiclass gradients
shaped (n, 6), so the exact soft-label gradient w (p - y) costs nothing extra, keeps one row per
eeg (bagging and min_data_in_leaf count eegs, not copies), and is checked against finite
differences in tests/test_gbdt.py. The model file stores raw scores (objective=custom):
`raw_scores` + softmax turn them into probabilities, in fit and in predict alike.
Boosting starts from 0 (uniform) rather than the class prior, because LightGBM replaces a
Dataset's init_score when it continues from a model (stage 2); the first rounds learn the prior.

`boosting: dart` (the default; Rashmi & Gilad-Bachrach 2015, dropout for boosted trees) trains exactly
`num_boost_round` rounds: DART rescales earlier trees whenever it drops them, so the model after round k is
not a prefix of the final one and there is no best round to stop at (LightGBM disables early stopping for
it). For the same reason it has no stage 2 (see `train`).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
from scipy.special import softmax

from hms.constants import N_CLASSES
from hms.errors import ConfigError
from hms.io import write_text
from hms.metrics import kl_divergence
from hms.models.spec import ModelConfig
from hms.train.gbdt.config import GbdtConfig
from hms.train.gbdt.data import FoldData
from hms.train.gbdt.family import gbdt_spec
from hms.train.gbdt.softlabel import softmax_ce_objective
from hms.train.gbdt.stages import StageOutcome, hq_rows, keep_stage2

log = logging.getLogger(__name__)


@dataclass
class LgbmConfig:
    boosting: Literal["gbdt", "dart"] = "dart"
    drop_rate: float = 0.1  # dart: share of the trees dropped in each round
    learning_rate: float = 0.1
    num_leaves: int = 15
    max_depth: int = -1
    min_data_in_leaf: int = 20
    feature_fraction: float = 0.3  # per tree
    bagging_fraction: float = 0.8
    bagging_freq: int = 1
    lambda_l2: float = 1.0
    max_bin: int = 31
    num_boost_round: int = 200  # dart: exactly this many; gbdt: at most, early-stopped
    early_stopping_rounds: int = 30  # gbdt only
    threads: int = 2
    device: Literal["cpu", "gpu", "cuda"] = "cpu"  # gpu = OpenCL build, cuda = CUDA build of LightGBM

    def __post_init__(self) -> None:
        if self.device not in ("cpu", "gpu", "cuda"):
            raise ConfigError(f"params.yaml lgbm.device must be cpu, gpu or cuda, not {self.device!r}")
        if self.boosting not in ("gbdt", "dart"):
            raise ConfigError(f"params.yaml lgbm.boosting must be gbdt or dart, not {self.boosting!r}")
        if not 0 < self.drop_rate < 1:
            raise ConfigError(f"params.yaml lgbm.drop_rate must be in (0, 1), got {self.drop_rate}")


def booster_params(cfg: LgbmConfig, seed: int) -> dict[str, Any]:
    return {
        "num_class": N_CLASSES,
        "boosting": cfg.boosting,
        "learning_rate": cfg.learning_rate,
        "num_leaves": cfg.num_leaves,
        "max_depth": cfg.max_depth,
        "min_data_in_leaf": cfg.min_data_in_leaf,
        "feature_fraction": cfg.feature_fraction,
        "bagging_fraction": cfg.bagging_fraction,
        "bagging_freq": cfg.bagging_freq,
        "lambda_l2": cfg.lambda_l2,
        "drop_rate": cfg.drop_rate,  # dart only
        "max_bin": cfg.max_bin,
        "num_threads": cfg.threads,
        "device_type": cfg.device,
        "seed": seed,  # LightGBM derives its bagging/feature-fraction seeds from it
        # Same params + same thread count -> bit-identical models on CPU.
        "deterministic": True,
        "force_col_wise": True,
        "metric": "None",  # the only metric is the soft-target KL below
        "verbosity": -1,
    }


def _kl_eval(y: np.ndarray):
    def feval(preds: np.ndarray, _dataset: lgb.Dataset) -> tuple[str, float, bool]:
        return "kl", kl_divergence(y, softmax(np.asarray(preds).reshape(len(y), N_CLASSES), axis=1)), False

    return feval


def _settle_dart(env: lgb.callback.CallbackEnv) -> None:
    """Before DART's first round: make its drops reproducible. LightGBM's DART (4.7, src/boosting/dart.hpp)
    reads a flag it never initialises, `is_update_score_cur_iter_`, the first time the training scores are
    asked for, which `lgb.train` with a custom objective does before round 1: when the garbage reads as
    unset, one random draw is taken, and every later drop moves (without this, one fold differed from a
    reference fit in 8 of 12 repeated fits on 2 threads and 10 of 12 on 1; tests/test_gbdt.py). Asking once
    here sets the flag; the objective's parameter reset that opens round 1 then restarts the drop generator
    from `drop_seed`, so every fit starts from the same state."""
    if env.iteration == env.begin_iteration:
        env.model.eval_train(lambda preds, data: ("settle", 0.0, False))


_settle_dart.before_iteration = True  # type: ignore[attr-defined]


def _boost(params: dict[str, Any], x: np.ndarray, y: np.ndarray, w: np.ndarray, xv: np.ndarray, yv: np.ndarray,
           rounds: int, patience: int, init_model: lgb.Booster | None) -> tuple[lgb.Booster, list[float]]:
    """Boost (gbdt: with early stopping on the validation KL); returns the booster and its KL curve."""
    # The label is unused by the custom objective but must be a valid class index.
    train_set = lgb.Dataset(x, label=y.argmax(axis=1), weight=w, free_raw_data=False)
    valid_set = lgb.Dataset(xv, label=yv.argmax(axis=1), reference=train_set, free_raw_data=False)
    history: dict[str, Any] = {}
    callbacks = [lgb.record_evaluation(history)]
    if params["boosting"] == "gbdt":
        callbacks.append(lgb.early_stopping(patience, verbose=False))
    else:
        callbacks.append(_settle_dart)
    booster = lgb.train(
        {**params, "objective": softmax_ce_objective(y)}, train_set, num_boost_round=rounds,
        valid_sets=[valid_set], valid_names=["valid"], feval=_kl_eval(yv), init_model=init_model,
        callbacks=callbacks,
    )
    return booster, list(history["valid"]["kl"])


def train(cfg: LgbmConfig, gb: GbdtConfig, data: FoldData, seed: int) -> tuple[lgb.Booster, StageOutcome]:
    """Stage 1 on all training eegs, optional stage 2 on the hq ones; returns the fold model."""
    params = booster_params(cfg, seed)
    booster, curve = _boost(params, data.x_train, data.y_train, data.w_train, data.x_valid, data.y_valid,
                            cfg.num_boost_round, cfg.early_stopping_rounds, None)
    best = booster.best_iteration or booster.current_iteration()
    # Truncate to the best round so stage 2 continues from it (init_model merges every stored tree).
    stage1 = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
    outcome = StageOutcome(best_iteration=best, valid_kl=float(curve[best - 1]), curve=curve)
    final = stage1
    tr, va, reason = hq_rows(gb, data)
    if tr is not None and cfg.boosting == "dart":
        # Stage 2 keeps its best round only; DART has none, and on the default data a fixed 200-round DART
        # stage 2 was kept in no fold (docs/gbdt.md) while costing 40 % more time.
        tr, reason = None, "skipped: lgbm.boosting is dart (no best round to keep)"
        if data.fold == 0:
            log.info("lgbm: the hq stage is %s", reason)
    outcome.hq_stage = reason or outcome.hq_stage
    if tr is not None:
        xv, yv = data.x_valid[va], data.y_valid[va]
        before = kl_divergence(yv, probabilities(stage1, xv, cfg.threads))
        booster2, hq_curve = _boost(params, data.x_train[tr], data.y_train[tr], data.w_train[tr], xv, yv,
                                    gb.hq_rounds, cfg.early_stopping_rounds, stage1)
        best2 = (booster2.best_iteration or booster2.current_iteration()) - best  # rounds added by stage 2
        outcome.hq_curve, outcome.hq_valid_kl_before = hq_curve, before
        if best2 > 0 and keep_stage2(hq_curve[best2 - 1], before):
            final = lgb.Booster(model_str=booster2.model_to_string(num_iteration=best + best2))
            outcome.hq_stage, outcome.hq_rounds, outcome.hq_valid_kl = "kept", best2, float(hq_curve[best2 - 1])
        else:
            outcome.hq_stage, outcome.hq_valid_kl = "no gain", before
    return final, outcome


def save(model: lgb.Booster, path: Path) -> None:
    write_text(model.model_to_string(), path)


def load(path: Path) -> lgb.Booster:
    return lgb.Booster(model_file=str(path))


def probabilities(model: lgb.Booster, x: np.ndarray, threads: int) -> np.ndarray:
    raw = model.predict(x, raw_score=True, num_threads=threads)
    return softmax(np.asarray(raw, dtype=np.float64).reshape(len(x), N_CLASSES), axis=1)


def importance(model: lgb.Booster) -> np.ndarray:
    """Total split gain per feature (summed over the 6 per-class trees of every round)."""
    return model.feature_importance(importance_type="gain").astype(np.float64)


def search_space(trial: Any, cfg: ModelConfig) -> dict[str, Any]:
    """`hms tune lgbm`: the knobs Kaggle GBDT solutions tune, over LightGBM's usual ranges; min_data_in_leaf
    around the current value (it scales with the data). Own block only: applying it changes no other
    model. Rounds stay early-stopped and max_bin stays (a speed knob)."""
    leaf = cfg.own.min_data_in_leaf
    return {
        "lgbm.learning_rate": trial.suggest_float("lgbm.learning_rate", 0.01, 0.3, log=True),
        "lgbm.num_leaves": trial.suggest_int("lgbm.num_leaves", 7, 63, log=True),
        "lgbm.min_data_in_leaf": trial.suggest_int("lgbm.min_data_in_leaf", max(2, leaf // 4), max(8, 4 * leaf), log=True),
        "lgbm.feature_fraction": trial.suggest_float("lgbm.feature_fraction", 0.1, 1.0),
        "lgbm.bagging_fraction": trial.suggest_float("lgbm.bagging_fraction", 0.5, 1.0),
        "lgbm.lambda_l2": trial.suggest_float("lgbm.lambda_l2", 1e-3, 30.0, log=True),
    }


SPEC = dataclasses.replace(gbdt_spec("lgbm", LgbmConfig, suffix=".txt", train=train, probabilities=probabilities,
                                     save=save, load=load, importance=importance), search_space=search_space)
