"""The `stack` stage as a function: nested-CV score of the configured blender on the base models'
OOF predictions, then one blender fitted on all OOF rows and applied to their test predictions."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hms.ensemble.blenders import blender_from_json, make_blender
from hms.ensemble.config import StackConfig
from hms.ensemble.inputs import load_oof, load_test, sample_weights, targets
from hms.ensemble.nested import nested_cv
from hms.io import write_json
from hms.metrics import cv_scores, score_predictions
from hms.predictions import oof_frame, test_frame, write_predictions

log = logging.getLogger(__name__)

BLENDER_FILE = "blender.json"


@dataclass
class StackResult:
    oof: pd.DataFrame  # nested-CV OOF predictions of the ensemble
    test: pd.DataFrame  # test predictions of the blender fitted on all OOF rows
    blender: dict[str, Any]  # JSON of that blender (+ the per-fold blenders of the nested CV)
    metrics: dict[str, Any]  # nested-CV scores: kl_all, kl_hq, folds, and the blend weights


def run_stack(cfg: StackConfig, train: pd.DataFrame, test: pd.DataFrame, pred_dir: Path) -> StackResult:
    probs = load_oof(pred_dir, cfg.models, train)
    y = targets(train)
    w = sample_weights(train, cfg.hq_weight)
    folds = train["fold"].to_numpy()
    nested = nested_cv(lambda: make_blender(cfg), probs, y, w, folds)
    oof = oof_frame(train, nested.oof)

    final = make_blender(cfg).fit(probs, y, w)
    test_df = test_frame(test["eeg_id"].to_numpy(), final.predict(load_test(pred_dir, cfg.models, test)))

    metrics = score_predictions(train, oof)
    singles = {m: cv_scores(y, probs[i], train["n_votes"].to_numpy())["kl_hq"] for i, m in enumerate(cfg.models)}
    in_sample = cv_scores(y, final.predict(probs), train["n_votes"].to_numpy())
    metrics.update({"blender": cfg.blender, "models": list(cfg.models), "weights": final.model_weights()})
    blender = {**final.to_json(), "trained_on": {"n": len(train), "hq_weight": cfg.hq_weight},
               # in-sample fit, for judging over-fitting only; the honest score is metrics/ensemble.json
               "in_sample": {"kl_all": in_sample["kl_all"], "kl_hq": in_sample["kl_hq"]},
               "nested_cv_folds": {str(k): v for k, v in nested.fold_blenders.items()}}
    scored = {m: v for m, v in singles.items() if v is not None}
    best = min(scored, key=scored.__getitem__) if scored else None
    log.info("stack (%s on %s): nested-CV kl_all=%s kl_hq=%s; in-sample kl_hq=%s; best single: %s kl_hq=%s",
             cfg.blender, cfg.models, metrics["kl_all"], metrics["kl_hq"], in_sample["kl_hq"], best, scored.get(best))
    return StackResult(oof, test_df, blender, metrics)


def write_stack(result: StackResult, pred_out: Path, model_out: Path, metrics_path: Path) -> None:
    write_predictions(result.oof, Path(pred_out) / "oof.parquet")
    write_predictions(result.test, Path(pred_out) / "test.parquet")
    write_json(result.blender, Path(model_out) / BLENDER_FILE)
    write_json(result.metrics, metrics_path)


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
