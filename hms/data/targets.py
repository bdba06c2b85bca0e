"""Votes -> targets, and train rows -> training samples (one per eeg, or one per labelled row)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from hms.constants import CLASSES, CONSENSUS, HQ_MIN_VOTES, VOTE_COLS
from hms.errors import ConfigError

TARGET_COLS: tuple[str, ...] = tuple(f"y_{c}" for c in CLASSES)
Aggregation = Literal["eeg", "row"]


def votes_to_targets(votes: np.ndarray) -> np.ndarray:
    """Normalise vote counts (n, 6) to distributions; rows with no votes are an error upstream."""
    votes = np.asarray(votes, dtype=np.float64)
    total = votes.sum(axis=1, keepdims=True)
    if (total <= 0).any():
        raise ValueError("votes_to_targets: a row has no votes (validate train.csv first)")
    return votes / total


def tier(n_votes: np.ndarray | pd.Series) -> np.ndarray:
    """'hq' for samples with >= 10 votes (the part of train that resembles the hidden test set)."""
    return np.where(np.asarray(n_votes) >= HQ_MIN_VOTES, "hq", "lq")


def make_samples(train: pd.DataFrame, aggregation: Aggregation = "eeg") -> pd.DataFrame:
    """Training samples from validated train.csv rows.

    `eeg`: one sample per eeg_id, votes summed over its rows (as the strongest public starters
    do); its window is the eeg's earliest labelled row; `n_votes` is the largest number of
    annotators of any of its rows (votes of one row = annotators of that row).
    `row`: one sample per label_id with that row's own window and votes.
    Columns: sample_id, eeg_id, patient_id, spectrogram_id, eeg_offset, spec_offset, n_rows,
    n_votes, the 6 vote counts, the 6 targets (y_*), consensus, tier.
    """
    df = train.copy()
    df["row_votes"] = df[list(VOTE_COLS)].sum(axis=1)
    if aggregation == "eeg":
        df = df.sort_values(["eeg_id", "eeg_label_offset_seconds", "label_id"], kind="stable")
        g = df.groupby("eeg_id", sort=True)
        first = g.first()
        out = pd.DataFrame({
            "sample_id": first.index.to_numpy(dtype=np.int64),
            "eeg_id": first.index.to_numpy(dtype=np.int64),
            "patient_id": first["patient_id"].to_numpy(np.int64),
            "spectrogram_id": first["spectrogram_id"].to_numpy(np.int64),
            "eeg_offset": first["eeg_label_offset_seconds"].to_numpy(np.float64),
            "spec_offset": first["spectrogram_label_offset_seconds"].to_numpy(np.float64),
            "n_rows": g.size().to_numpy(np.int64),
            "n_votes": g["row_votes"].max().to_numpy(np.int64),
        })
        votes = g[list(VOTE_COLS)].sum().to_numpy(np.int64)
    elif aggregation == "row":
        df = df.sort_values("label_id", kind="stable")
        out = pd.DataFrame({
            "sample_id": df["label_id"].to_numpy(np.int64),
            "eeg_id": df["eeg_id"].to_numpy(np.int64),
            "patient_id": df["patient_id"].to_numpy(np.int64),
            "spectrogram_id": df["spectrogram_id"].to_numpy(np.int64),
            "eeg_offset": df["eeg_label_offset_seconds"].to_numpy(np.float64),
            "spec_offset": df["spectrogram_label_offset_seconds"].to_numpy(np.float64),
            "n_rows": np.ones(len(df), dtype=np.int64),
            "n_votes": df["row_votes"].to_numpy(np.int64),
        })
        votes = df[list(VOTE_COLS)].to_numpy(np.int64)
    else:
        raise ConfigError(f"prepare.aggregation must be 'eeg' or 'row', not {aggregation!r}")
    out[list(VOTE_COLS)] = votes
    y = votes_to_targets(votes)
    out[list(TARGET_COLS)] = y
    out["consensus"] = np.asarray(CONSENSUS)[y.argmax(axis=1)]
    out["tier"] = tier(out["n_votes"])
    return out.reset_index(drop=True)


def make_test_samples(test: pd.DataFrame) -> pd.DataFrame:
    """Test samples: one per eeg_id, each file is its own window (offsets NaN = whole file)."""
    out = pd.DataFrame({
        "sample_id": test["eeg_id"].to_numpy(np.int64),
        "eeg_id": test["eeg_id"].to_numpy(np.int64),
        "patient_id": test["patient_id"].to_numpy(np.int64),
        "spectrogram_id": test["spectrogram_id"].to_numpy(np.int64),
        "eeg_offset": np.nan,
        "spec_offset": np.nan,
    })
    return out.sort_values("sample_id", kind="stable").reset_index(drop=True)
