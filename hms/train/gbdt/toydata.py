"""A small synthetic prepared table + tabular feature cache whose features carry signal about the
targets, for the GBDT tests and benchmark (independent of the synthetic EEG generator)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import softmax

from hms.constants import CONSENSUS, N_CLASSES, VOTE_COLS
from hms.data.folds import assign_folds
from hms.data.targets import TARGET_COLS, tier
from hms.features.store import table_path, write_config
from hms.io import write_parquet

# Votes per eeg, roughly the real mix: 3 votes for most, a high-vote group of 10-20 (hms-data.md).
_VOTE_CHOICES = np.array([1, 2, 3, 4, 5, 6, 10, 12, 15, 18, 20])
_VOTE_PROBS = np.array([0.04, 0.03, 0.45, 0.04, 0.04, 0.02, 0.08, 0.08, 0.12, 0.05, 0.05])


def toy_tables(n_train: int, n_test: int, n_features: int, n_folds: int, seed: int,
               n_informative: int = 8) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(prepared train, prepared test, train features, test features).

    Latent class distribution = softmax(X[:, :n_informative] @ W); votes ~ multinomial(n_votes, p).
    """
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    x = rng.normal(size=(n, n_features)).astype(np.float32)
    w = rng.normal(scale=1.2, size=(n_informative, N_CLASSES))
    p = softmax(x[:, :n_informative].astype(np.float64) @ w + np.log([0.15, 0.14, 0.1, 0.065, 0.115, 0.42]), axis=1)
    x[rng.random(x.shape) < 0.01] = np.nan  # both libraries must cope with missing values
    n_votes = rng.choice(_VOTE_CHOICES, p=_VOTE_PROBS, size=n)
    votes = np.vstack([rng.multinomial(v, pi) for v, pi in zip(n_votes, p)])
    ids = np.arange(1000, 1000 + n, dtype=np.int64) * 7  # sorted, not 0..n-1
    patients = rng.integers(0, max(n_train // 3, n_folds * 2), size=n)

    train = pd.DataFrame({"sample_id": ids[:n_train], "eeg_id": ids[:n_train], "patient_id": patients[:n_train],
                          "n_votes": n_votes[:n_train]})
    train[list(VOTE_COLS)] = votes[:n_train]
    train[list(TARGET_COLS)] = votes[:n_train] / n_votes[:n_train, None]
    train["consensus"] = np.asarray(CONSENSUS)[votes[:n_train].argmax(axis=1)]
    train["tier"] = tier(train["n_votes"])
    train["fold"] = assign_folds(train, n_folds, seed)
    test = pd.DataFrame({"sample_id": ids[n_train:], "eeg_id": ids[n_train:], "patient_id": patients[n_train:]})
    cols = [f"f{i:03d}" for i in range(n_features)]
    feats = pd.DataFrame(x, columns=cols)
    feats.insert(0, "sample_id", ids)
    return train, test, feats.iloc[:n_train].reset_index(drop=True), feats.iloc[n_train:].reset_index(drop=True)


def write_toy_features(features_dir: Path, train_features: pd.DataFrame, test_features: pd.DataFrame) -> Path:
    """Write the tables in the hms.features.store format (plus a config.json naming them as toy)."""
    features_dir = Path(features_dir)
    write_parquet(train_features, table_path(features_dir, "train"))
    write_parquet(test_features, table_path(features_dir, "test"))
    write_config(features_dir, {"kind": "tabular", "toy": True, "n_features": train_features.shape[1] - 1})
    return features_dir
