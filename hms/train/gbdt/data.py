"""The per-fold training data the GBDT backends receive, cut from the driver's FoldInputs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hms.models.spec import FoldInputs
from hms.train.gbdt.config import GbdtConfig
from hms.train.gbdt.softlabel import vote_weights


@dataclass
class FoldData:
    """Everything one fold trains on. Stage 2 uses the rows flagged `hq_train` / `hq_valid`."""

    fold: int
    x_train: np.ndarray
    y_train: np.ndarray  # (n, 6) soft targets
    w_train: np.ndarray  # row weights
    hq_train: np.ndarray  # bool: stage-2 rows
    x_valid: np.ndarray
    y_valid: np.ndarray
    hq_valid: np.ndarray  # bool: rows the stage-2 early stopping watches


def fold_data(inputs: FoldInputs, gb: GbdtConfig) -> FoldData:
    tr, va = inputs.train_rows, inputs.valid_rows
    w = vote_weights(inputs.n_votes, gb.weight_power, gb.weight_cap)
    hq = inputs.n_votes >= gb.hq_min_votes
    return FoldData(fold=inputs.fold, x_train=inputs.x[tr], y_train=inputs.y[tr], w_train=w[tr], hq_train=hq[tr],
                    x_valid=inputs.x[va], y_valid=inputs.y[va], hq_valid=hq[va])
