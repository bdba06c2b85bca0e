"""Prediction files shared by every model: OOF (sample_id, eeg_id, fold, 6 probabilities) and
test (eeg_id, 6 probabilities), columns in sample_submission's class order, sorted by id."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from hms.constants import VOTE_COLS
from hms.io import write_parquet

PROB_COLS: tuple[str, ...] = VOTE_COLS  # submission column names hold probabilities
SUM_TOL = 1e-6


def check_probabilities(probs: np.ndarray, where: str) -> None:
    probs = np.asarray(probs)
    if probs.ndim != 2 or probs.shape[1] != len(PROB_COLS):
        raise ValueError(f"{where}: expected an (n, {len(PROB_COLS)}) probability array, got {probs.shape}")
    if not np.isfinite(probs).all():
        raise ValueError(f"{where}: non-finite probability in row {int(np.argwhere(~np.isfinite(probs))[0, 0])}")
    if (probs < 0).any():
        raise ValueError(f"{where}: negative probability in row {int(np.argwhere(probs < 0)[0, 0])}")
    err = np.abs(probs.sum(axis=1) - 1)
    if (err > SUM_TOL).any():
        r = int(np.argmax(err))
        raise ValueError(f"{where}: row {r} sums to {probs[r].sum():.9f}, not 1")


def oof_frame(samples: pd.DataFrame, probs: np.ndarray) -> pd.DataFrame:
    """OOF frame aligned to the prepared samples (their order), sorted by sample_id."""
    check_probabilities(probs, "OOF predictions")
    df = samples[["sample_id", "eeg_id", "fold"]].copy()
    df[list(PROB_COLS)] = np.asarray(probs, dtype=np.float64)
    return df.sort_values("sample_id", kind="stable").reset_index(drop=True)


def test_frame(eeg_ids: np.ndarray, probs: np.ndarray) -> pd.DataFrame:
    check_probabilities(probs, "test predictions")
    df = pd.DataFrame({"eeg_id": np.asarray(eeg_ids, dtype=np.int64)})
    df[list(PROB_COLS)] = np.asarray(probs, dtype=np.float64)
    return df.sort_values("eeg_id", kind="stable").reset_index(drop=True)


def write_predictions(df: pd.DataFrame, path: str | os.PathLike) -> None:
    check_probabilities(df[list(PROB_COLS)].to_numpy(), str(path))
    write_parquet(df, path)


def write_model_predictions(samples: pd.DataFrame, test: pd.DataFrame, oof_probs: np.ndarray, test_probs: np.ndarray,
                            out_dir: str | os.PathLike) -> pd.DataFrame:
    """One model's out_dir/oof.parquet (aligned to the prepared `samples`) and out_dir/test.parquet (the
    prepared `test` table's eegs); returns the OOF frame, which is what gets scored."""
    oof = oof_frame(samples, oof_probs)
    write_predictions(oof, Path(out_dir) / "oof.parquet")
    write_predictions(test_frame(test["eeg_id"].to_numpy(), test_probs), Path(out_dir) / "test.parquet")
    return oof


def read_predictions(path: str | os.PathLike) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: prediction file not found; run its train stage (dvc repro)")
    df = pd.read_parquet(path)
    check_probabilities(df[list(PROB_COLS)].to_numpy(), str(path))
    return df
