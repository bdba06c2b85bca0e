"""Honest scoring of a blender: nested CV on the base models' own folds. For each fold k the
blender is fitted on the OOF rows of the other folds and predicts fold k, so no row is ever
scored by a blender that saw it (the base OOF predictions are themselves out-of-fold)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from hms.ensemble.blenders import Blender

log = logging.getLogger(__name__)


@dataclass
class NestedCV:
    oof: np.ndarray  # (n, 6): row i predicted by the blender fitted without row i's fold
    fold_blenders: dict[int, dict[str, Any]]  # fold -> JSON of the blender that scored it
    fit_rows: dict[int, np.ndarray]  # fold -> row indices that blender was fitted on


def nested_cv(make: Callable[[], Blender], probs: np.ndarray, y: np.ndarray, weight: np.ndarray,
              folds: np.ndarray) -> NestedCV:
    folds = np.asarray(folds)
    uniq = np.unique(folds)
    if len(uniq) < 2:
        raise ValueError(f"nested CV needs at least 2 folds, found {uniq.tolist()}")
    oof = np.full(y.shape, np.nan)
    fold_blenders: dict[int, dict[str, Any]] = {}
    fit_rows: dict[int, np.ndarray] = {}
    for k in uniq:  # a handful of folds, each a few seconds at most: logged, no progress bar
        valid = folds == k
        fit_idx = np.flatnonzero(~valid)
        blender = make().fit(probs[:, fit_idx], y[fit_idx], weight[fit_idx])
        oof[valid] = blender.predict(probs[:, valid])
        fold_blenders[int(k)] = blender.to_json()
        fit_rows[int(k)] = fit_idx
        log.info("nested CV fold %s: blender fitted on %d rows, scores %d", k, len(fit_idx), int(valid.sum()))
    return NestedCV(oof, fold_blenders, fit_rows)
