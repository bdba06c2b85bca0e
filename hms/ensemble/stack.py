"""The `stack` stage as a function: nested-CV score of the configured blender on the base models'
OOF predictions, then one blender fitted on all OOF rows and applied to their test predictions."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hms.ensemble.apply import BLENDER_FILE
from hms.ensemble.blenders import make_blender
from hms.ensemble.config import StackConfig
from hms.ensemble.inputs import load_oof, load_test, sample_weights, targets
from hms.ensemble.nested import nested_cv
from hms.io import write_json
from hms.metrics import cv_scores, score_predictions
from hms.predictions import oof_frame, test_frame, write_predictions

log = logging.getLogger(__name__)



@dataclass
class StackResult:
    oof: pd.DataFrame  # nested-CV OOF predictions of the ensemble
    test: pd.DataFrame  # test predictions of the blender fitted on all OOF rows
    blender: dict[str, Any]  # JSON of that blender (+ the per-fold blenders of the nested CV)
    metrics: dict[str, Any]  # nested-CV scores: kl_all, kl_hq, folds, and the blend weights


def run_stack(cfg: StackConfig, models: list[str], train: pd.DataFrame, test: pd.DataFrame, pred_dir: Path) -> StackResult:
    """Blend `models` (their OOF and test files under pred_dir/<model>/)."""
    probs = load_oof(pred_dir, models, train)
    y = targets(train)
    w = sample_weights(train, cfg.hq_weight)
    folds = train["fold"].to_numpy()
    nested = nested_cv(lambda: make_blender(cfg, models), probs, y, w, folds)
    oof = oof_frame(train, nested.oof)

    final = make_blender(cfg, models).fit(probs, y, w)
    test_df = test_frame(test["eeg_id"].to_numpy(), final.predict(load_test(pred_dir, models, test)))

    metrics = score_predictions(train, oof)
    singles = {m: cv_scores(y, probs[i], train["n_votes"].to_numpy())["kl_hq"] for i, m in enumerate(models)}
    in_sample = cv_scores(y, final.predict(probs), train["n_votes"].to_numpy())
    weights = final.model_weights()
    blender = {**final.to_json(), "trained_on": {"n": len(train), "hq_weight": cfg.hq_weight},
               # in-sample fit, for judging over-fitting only; the honest score is metrics/ensemble.json
               "in_sample": {"kl_all": in_sample["kl_all"], "kl_hq": in_sample["kl_hq"]},
               "nested_cv_folds": {str(k): v for k, v in nested.fold_blenders.items()}}
    scored = {m: v for m, v in singles.items() if v is not None}
    best = min(scored, key=scored.__getitem__) if scored else None
    log.info("stack (%s on %s): nested-CV kl_all=%s kl_hq=%s; in-sample kl_hq=%s; best single: %s kl_hq=%s; weights %s",
             cfg.blender, models, metrics["kl_all"], metrics["kl_hq"], in_sample["kl_hq"], best, scored.get(best),
             {k: round(v, 3) for k, v in weights.items()})
    return StackResult(oof, test_df, blender, metrics)


def write_stack(result: StackResult, pred_out: Path, model_out: Path, metrics_path: Path) -> None:
    write_predictions(result.oof, Path(pred_out) / "oof.parquet")
    write_predictions(result.test, Path(pred_out) / "test.parquet")
    write_json(result.blender, Path(model_out) / BLENDER_FILE)
    write_json(result.metrics, metrics_path)
