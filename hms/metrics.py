"""Kaggle's metric and the cross-validation report every model writes.

Kaggle: KL(solution || submission), submission clipped to [1e-15, 1-1e-15] and not renormalised,
terms with a zero target count 0, summed over classes, averaged over rows (micro average).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from hms.constants import HQ_MIN_VOTES, KL_EPS

log = logging.getLogger(__name__)


def kl_terms(y_true: np.ndarray, y_pred: np.ndarray, eps: float = KL_EPS) -> np.ndarray:
    """(n, 6) per-class terms y_k log(y_k / p_k) of Kaggle's KL (summed over classes = its row KL)."""
    y = np.asarray(y_true, dtype=np.float64)
    p = np.clip(np.asarray(y_pred, dtype=np.float64), eps, 1 - eps)
    if y.shape != p.shape:
        raise ValueError(f"kl: shapes differ, targets {y.shape} vs predictions {p.shape}")
    safe_y = np.where(y > 0, y, 1.0)
    return np.where(y > 0, y * np.log(safe_y / p), 0.0)


def kl_per_row(y_true: np.ndarray, y_pred: np.ndarray, eps: float = KL_EPS) -> np.ndarray:
    return kl_terms(y_true, y_pred, eps).sum(axis=1)


def kl_divergence(y_true: np.ndarray, y_pred: np.ndarray, eps: float = KL_EPS) -> float:
    """Kaggle's HMS score (lower is better)."""
    return float(kl_per_row(y_true, y_pred, eps).mean())


def cv_scores(y_true: np.ndarray, y_pred: np.ndarray, n_votes: np.ndarray, folds: np.ndarray | None = None) -> dict[str, Any]:
    """`kl_all`, `kl_hq` (>= 10 votes), counts, and the same per fold under `folds`."""
    per_row = kl_per_row(y_true, y_pred)
    hq = np.asarray(n_votes) >= HQ_MIN_VOTES

    def summary(mask: np.ndarray) -> dict[str, Any]:
        out = {"kl_all": _mean(per_row[mask]), "kl_hq": _mean(per_row[mask & hq]),
               "n_all": int(mask.sum()), "n_hq": int((mask & hq).sum())}
        return out

    report = summary(np.ones(len(per_row), dtype=bool))
    if folds is not None:
        folds = np.asarray(folds)
        report["folds"] = {str(int(k)): summary(folds == k) for k in np.unique(folds)}
    return report


# A fold above this multiple of the other folds' median kl_hq failed to train rather than drew harder eegs: in
# 42 five-fold runs of base models on the default data (stops 27-28), the two efficientnet runs with a stuck fold
# were at 1.82 and 1.72, every other fold at most 1.28 (docs/neural.md, Seed spread).
OUTLIER_FOLD_RATIO = 1.5


def outlier_folds(report: dict[str, Any], ratio: float = OUTLIER_FOLD_RATIO) -> dict[str, tuple[float, float]]:
    """Folds of a `cv_scores` report whose kl_hq is above `ratio` x the median of the other folds':
    fold -> (its kl_hq, that median). Folds without hq eegs are left out."""
    scores = {k: f["kl_hq"] for k, f in report.get("folds", {}).items() if f["kl_hq"] is not None}
    out = {}
    for k, score in scores.items():
        others = [v for j, v in scores.items() if j != k]
        if len(others) < 2:
            continue
        median = float(np.median(others))
        if score > ratio * median:
            out[k] = (score, median)
    return out


def warn_outlier_folds(name: str, report: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """Log a warning per outlier fold of model `name` (`outlier_folds`); returns them."""
    found = outlier_folds(report)
    for k, (score, median) in found.items():
        log.warning("%s fold %s: kl_hq %.4f is %.1fx the other folds' median (%.4f): it may have failed to train; "
                    "compare another seed (docs/neural.md, Seed spread)", name, k, score, score / median, median)
    return found


def _mean(x: np.ndarray) -> float | None:
    return round(float(x.mean()), 6) if len(x) else None


def score_predictions(samples: pd.DataFrame, preds: pd.DataFrame) -> dict[str, Any]:
    """CV report of an OOF prediction file against the prepared table (joined on sample_id)."""
    from hms.data.targets import TARGET_COLS
    from hms.predictions import PROB_COLS

    merged = samples[["sample_id", "fold", "n_votes", *TARGET_COLS]].merge(
        preds[["sample_id", *PROB_COLS]], on="sample_id", how="left", validate="one_to_one")
    missing = merged[list(PROB_COLS)].isna().any(axis=1)
    if missing.any():
        raise ValueError(f"OOF predictions miss {int(missing.sum())} samples, e.g. sample_id "
                         f"{int(merged.loc[missing, 'sample_id'].iloc[0])}")
    return cv_scores(merged[list(TARGET_COLS)].to_numpy(), merged[list(PROB_COLS)].to_numpy(),
                     merged["n_votes"].to_numpy(), merged["fold"].to_numpy())
