"""Tables behind the evaluation report, as pure functions of the prepared train table and OOF
probability arrays in its row order."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from hms.constants import CLASSES, CONSENSUS, HQ_MIN_VOTES, VOTE_COLS
from hms.data.targets import TARGET_COLS
from hms.metrics import kl_per_row, kl_terms


def hq_mask(train: pd.DataFrame) -> np.ndarray:
    return train["n_votes"].to_numpy() >= HQ_MIN_VOTES


def floor_scores(train: pd.DataFrame, latent_csv: str | os.PathLike) -> dict[str, float]:
    """Synthetic data only: KL of each sample's targets against its eeg's latent class distribution,
    the best score any model can expect (`floor_all`, `floor_hq`)."""
    path = Path(latent_csv)
    latent = pd.read_csv(path)
    missing_cols = [c for c in ("eeg_id", *VOTE_COLS) if c not in latent.columns]
    if missing_cols:
        raise ValueError(f"{path}: missing column(s) {missing_cols}; expected eeg_id + {list(VOTE_COLS)}")
    merged = train[["eeg_id"]].merge(latent[["eeg_id", *VOTE_COLS]], on="eeg_id", how="left", validate="many_to_one")
    lost = merged[VOTE_COLS[0]].isna()
    if lost.any():
        raise ValueError(f"{path}: no latent distribution for eeg_id {int(merged.loc[lost, 'eeg_id'].iloc[0])} "
                         f"({int(lost.sum())} samples); regenerate the synthetic data")
    per_row = kl_per_row(train[list(TARGET_COLS)].to_numpy(), merged[list(VOTE_COLS)].to_numpy())
    hq = hq_mask(train)
    return {"floor_all": round(float(per_row.mean()), 6),
            "floor_hq": round(float(per_row[hq].mean()), 6) if hq.any() else None}


def class_kl(train: pd.DataFrame, probs: np.ndarray) -> pd.DataFrame:
    """Per-class contribution to the KL (sum over classes = the KL), on all samples and on hq."""
    terms = kl_terms(train[list(TARGET_COLS)].to_numpy(), probs)
    hq = hq_mask(train)
    return pd.DataFrame({"class": list(CLASSES), "kl_all": terms.mean(axis=0),
                         "kl_hq": terms[hq].mean(axis=0) if hq.any() else np.nan})


def confusion_rows(train: pd.DataFrame, probs: np.ndarray) -> pd.DataFrame:
    """One row per hq sample: expert consensus vs predicted argmax (dvc's confusion template)."""
    hq = hq_mask(train)
    pred = np.asarray(CONSENSUS)[np.asarray(probs)[hq].argmax(axis=1)]
    return pd.DataFrame({"actual": train.loc[hq, "consensus"].to_numpy(), "predicted": pred})


def calibration(train: pd.DataFrame, probs: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Reliability table per class: mean predicted probability vs mean target share in equal-width
    bins of the predicted probability (soft targets, all samples)."""
    y = train[list(TARGET_COLS)].to_numpy(np.float64)
    p = np.asarray(probs, dtype=np.float64)
    rows = []
    for k, cls in enumerate(CLASSES):
        b = np.minimum((p[:, k] * n_bins).astype(int), n_bins - 1)
        for i in np.unique(b):
            m = b == i
            rows.append({"class": cls, "bin": int(i), "mean_pred": float(p[m, k].mean()),
                         "mean_target": float(y[m, k].mean()), "n": int(m.sum())})
    return pd.DataFrame(rows)
