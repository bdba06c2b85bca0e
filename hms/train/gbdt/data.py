"""Feature matrices, the fold split and the per-fold training data the GBDT backends receive."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hms.data.targets import TARGET_COLS
from hms.features.store import read_table


@dataclass
class FoldData:
    """Everything one fold trains on. Stage 2 uses the rows flagged `hq_train` / `hq_valid`."""

    fold: int
    train_ids: np.ndarray  # sample_ids of the training part (the other folds)
    valid_ids: np.ndarray  # sample_ids of fold `fold`
    x_train: np.ndarray
    y_train: np.ndarray  # (n, 6) soft targets
    w_train: np.ndarray  # row weights
    hq_train: np.ndarray  # bool: stage-2 rows
    x_valid: np.ndarray
    y_valid: np.ndarray
    hq_valid: np.ndarray  # bool: rows the stage-2 early stopping watches

    def fingerprint(self) -> str:
        """Hash of the data itself, so a resumed fold is reused only if its inputs are unchanged."""
        h = hashlib.sha256()
        for arr in (self.train_ids, self.valid_ids, self.x_train, self.y_train, self.w_train, self.hq_train,
                    self.x_valid, self.y_valid, self.hq_valid):
            a = np.ascontiguousarray(arr)
            h.update(str((a.dtype.str, a.shape)).encode())
            h.update(a.tobytes())
        return h.hexdigest()


def fold_split(folds: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(training row indices, validation row indices) of fold k: validation = rows with fold == k."""
    folds = np.asarray(folds)
    return np.flatnonzero(folds != k), np.flatnonzero(folds == k)


def feature_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c != "sample_id"]


def feature_matrix(df: pd.DataFrame, columns: list[str], where: str) -> np.ndarray:
    """float32 (n, n_features) in `columns` order; NaN is allowed (both libraries route missing values),
    infinities are not (they would silently become the largest bin)."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{where}: feature column(s) {missing[:5]}{'...' if len(missing) > 5 else ''} missing "
                         f"({len(missing)} of {len(columns)}); the features were built with a different "
                         "feature config than the model: rebuild them (dvc repro) or retrain")
    x = df[columns].to_numpy(dtype=np.float32)
    bad = np.isinf(x)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ValueError(f"{where}: infinite value in feature column {columns[c]!r}, sample_id "
                         f"{int(df['sample_id'].iloc[r])} ({int(bad.sum())} in all); fix the feature stage")
    return x


def read_features(features_dir: Path, split: str, samples: pd.DataFrame, columns: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """Feature matrix of `samples` (ids and order checked) and its column list."""
    table = read_table(features_dir, split, expected_ids=samples["sample_id"].to_numpy())
    columns = feature_columns(table) if columns is None else columns
    if not columns:
        raise ValueError(f"{features_dir}/{split}.parquet: no feature columns besides sample_id")
    return feature_matrix(table, columns, f"{features_dir}/{split}.parquet"), columns


def targets(train: pd.DataFrame) -> np.ndarray:
    y = train[list(TARGET_COLS)].to_numpy(np.float64)
    bad = np.abs(y.sum(axis=1) - 1) > 1e-6
    if bad.any() or (y < 0).any():
        r = int(np.flatnonzero(bad | (y < 0).any(axis=1))[0])
        raise ValueError(f"prepared train table: targets of sample_id {int(train['sample_id'].iloc[r])} "
                         "are not a distribution; rerun `dvc repro prepare`")
    return y


def check_folds(train: pd.DataFrame, n_folds: int) -> np.ndarray:
    if "fold" not in train.columns:
        raise ValueError("prepared train table has no 'fold' column; rerun `dvc repro prepare`")
    folds = train["fold"].to_numpy(np.int64)
    found = sorted(np.unique(folds).tolist())
    if found != list(range(n_folds)):
        raise ValueError(f"prepared train table has folds {found} but params.yaml folds={n_folds}; "
                         "rerun `dvc repro prepare`")
    return folds


def stable_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()
