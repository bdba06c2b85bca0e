"""One patient-grouped split shared by every model."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from hms.errors import ConfigError


def assign_folds(samples: pd.DataFrame, n_folds: int, seed: int) -> np.ndarray:
    """Fold index per sample: no patient in two folds, consensus classes balanced across folds."""
    n_patients = samples["patient_id"].nunique()
    if n_patients < n_folds:
        raise ConfigError(f"folds={n_folds} but only {n_patients} patients: lower `folds` in params.yaml")
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    fold = np.full(len(samples), -1, dtype=np.int64)
    for k, (_, valid) in enumerate(splitter.split(samples, samples["consensus"], groups=samples["patient_id"])):
        fold[valid] = k
    return fold
