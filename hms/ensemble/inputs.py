"""Read the base models' prediction files and line them up with the prepared tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hms.constants import HQ_MIN_VOTES
from hms.data.targets import TARGET_COLS
from hms.predictions import PROB_COLS, read_predictions


def load_oof(pred_dir: Path, models: list[str], train: pd.DataFrame) -> np.ndarray:
    """(n_models, n_train, 6) OOF probabilities in the prepared train table's row order.

    Every file must hold exactly the prepared samples with the prepared folds: a stale file from
    another `folds`/`seed` would otherwise leak training rows into the blender's validation folds.
    """
    out = np.empty((len(models), len(train), len(PROB_COLS)))
    for i, name in enumerate(models):
        path = Path(pred_dir) / name / "oof.parquet"
        df = read_predictions(path)
        merged = train[["sample_id", "fold"]].merge(df[["sample_id", "fold", *PROB_COLS]], on="sample_id", how="left",
                                                    suffixes=("", "_pred"), validate="one_to_one")
        missing = merged[PROB_COLS[0]].isna()
        if missing.any() or len(df) != len(train):
            raise ValueError(f"{path}: {int(missing.sum())} prepared train samples missing (e.g. sample_id "
                             f"{_first(merged.loc[missing, 'sample_id'])}) and {len(df) - int((~missing).sum())} "
                             "extra rows; rerun `dvc repro train@" + name + "`")
        bad = merged["fold"].to_numpy() != merged["fold_pred"].to_numpy()
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{path}: sample_id {int(merged['sample_id'].iloc[r])} has fold {int(merged['fold_pred'].iloc[r])} "
                             f"but data/prepared says {int(merged['fold'].iloc[r])}; rerun `dvc repro train@{name}`")
        out[i] = merged[list(PROB_COLS)].to_numpy(np.float64)
    return out


def load_test(pred_dir: Path, models: list[str], test: pd.DataFrame) -> np.ndarray:
    """(n_models, n_test, 6) test probabilities in the prepared test table's row order."""
    out = np.empty((len(models), len(test), len(PROB_COLS)))
    want = test["eeg_id"].to_numpy(np.int64)
    for i, name in enumerate(models):
        path = Path(pred_dir) / name / "test.parquet"
        df = read_predictions(path).set_index("eeg_id")
        got = df.index.to_numpy(np.int64)
        if len(got) != len(want) or set(got) != set(want):
            extra, missing = sorted(set(got) - set(want)), sorted(set(want) - set(got))
            raise ValueError(f"{path}: eeg_ids differ from data/prepared/test.parquet (missing {missing[:3]}, "
                             f"extra {extra[:3]}); rerun `dvc repro train@{name}`")
        out[i] = df.loc[want, list(PROB_COLS)].to_numpy(np.float64)
    return out


def targets(train: pd.DataFrame) -> np.ndarray:
    return train[list(TARGET_COLS)].to_numpy(np.float64)


def sample_weights(train: pd.DataFrame, hq_weight: float) -> np.ndarray:
    """Blender loss weights: hq eegs (>= 10 votes) count `hq_weight` times the others."""
    return np.where(train["n_votes"].to_numpy() >= HQ_MIN_VOTES, hq_weight, 1.0)


def _first(s: pd.Series) -> str:
    return str(int(s.iloc[0])) if len(s) else "-"
