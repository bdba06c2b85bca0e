"""The class-prior baseline: every sample gets the mean target of the training folds.
It is the reference row every model is compared against."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hms.data.targets import TARGET_COLS


def prior_oof(samples: pd.DataFrame) -> np.ndarray:
    y = samples[list(TARGET_COLS)].to_numpy()
    out = np.empty_like(y)
    for k in np.unique(samples["fold"]):
        valid = (samples["fold"] == k).to_numpy()
        out[valid] = y[~valid].mean(axis=0)
    return out


def prior_test(samples: pd.DataFrame, n_test: int) -> np.ndarray:
    return np.tile(samples[list(TARGET_COLS)].to_numpy().mean(axis=0), (n_test, 1))
