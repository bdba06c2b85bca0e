"""The GBDT family: turns a library backend (LightGBM, CatBoost) into a ModelSpec whose fold
functions train on the soft vote targets (stage 1 on every eeg, optional stage 2 on the eegs with
>= 10 votes, see hms.train.gbdt.stages) and write the library's native model format."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from hms.models.spec import CurveLogger, FoldFit, FoldInputs, ModelConfig, ModelSpec
from hms.train.gbdt.config import GbdtConfig
from hms.train.gbdt.data import FoldData, fold_data
from hms.train.gbdt.importance import importance_table, write_importance
from hms.train.gbdt.stages import StageOutcome


def log_curves(log: CurveLogger, outcome: StageOutcome) -> None:
    """Stage-1 validation KL per round, then stage 2's, its rounds continuing after stage 1's best round."""
    for step, value in enumerate(outcome.curve, start=1):
        log(step, {"valid_kl": value})
    for step, value in enumerate(outcome.hq_curve, start=outcome.best_iteration + 1):
        log(step, {"hq_valid_kl": value})


def gbdt_spec(name: str, own_config: type, *, suffix: str,
              train: Callable[[Any, GbdtConfig, FoldData, int], tuple[Any, StageOutcome]],
              probabilities: Callable[[Any, np.ndarray, int], np.ndarray], save: Callable[[Any, Path], None],
              load: Callable[[Path], Any], importance: Callable[[Any], np.ndarray]) -> ModelSpec:
    """The ModelSpec of a GBDT model from its library functions: train(own cfg, gbdt cfg, fold data, seed)
    -> (model, outcome), probabilities(model, x, threads) -> (n, 6), save / load of the native file,
    importance(model) -> one value per feature."""

    def fit_fold(cfg: ModelConfig, inputs: FoldInputs, log: CurveLogger) -> FoldFit:
        model, outcome = train(cfg.own, cfg.shared, fold_data(inputs, cfg.shared), inputs.seed)
        log_curves(log, outcome)
        info = {k: v for k, v in outcome.to_json().items() if k not in ("curve", "hq_curve")}
        return FoldFit(model, info)

    def predict(cfg: ModelConfig, model: Any, x: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        return probabilities(model, x if rows is None else x[rows], cfg.own.threads)

    def load_fold(cfg: ModelConfig, path: Path, input_shape: tuple[int, ...]) -> Any:
        return load(path)

    def report(cfg: ModelConfig, models: list[Any], columns: list[str] | None, model_dir: Path) -> None:
        table = importance_table([importance(m) for m in models], list(columns or []))
        write_importance(table, model_dir, f"{name}: feature importance ({len(models)} folds)")

    return ModelSpec(name=name, features="tabular", family="gbdt", shared_config=GbdtConfig, own_config=own_config,
                     fit_fold=fit_fold, predict=predict, save=save, load=load_fold, suffix=suffix,
                     report=report)
