"""Soft vote targets under KL for gradient-boosted trees: one softmax over the 6 classes.

The training loss of every GBDT is the weighted soft cross-entropy
    L = sum_i w_i * sum_k -y_ik log softmax(z_i)_k,
which differs from KL(y || softmax(z)) only by the targets' entropy (a constant), so both have
the same minimiser and the same gradient. Two ways to give it to a library:

- `softmax_ce_objective` (LightGBM): a custom objective; grad = w (p - y), hess = w p (1 - p)
  (the diagonal of the softmax Hessian, what LightGBM's own multiclass loss uses up to a constant).
- `expand_soft_labels` (CatBoost): one copy of a row per class with a non-zero target, label =
  that class, weight = target share x row weight; the library's ordinary weighted multiclass
  log-loss over the copies is then exactly L (sum_k y_ik = 1 keeps the total weight per row).

Per-class sigmoid losses (CatBoost MultiCrossEntropy) are NOT this loss: they ignore that the
six shares sum to one.
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_softmax, softmax

from hms.constants import N_CLASSES


def soft_cross_entropy(y: np.ndarray, logits: np.ndarray, weight: np.ndarray | None = None) -> float:
    """Weighted mean of -sum_k y_k log softmax(z)_k over rows (weights normalised to sum 1)."""
    y = np.asarray(y, dtype=np.float64)
    per_row = -(y * log_softmax(np.asarray(logits, dtype=np.float64), axis=1)).sum(axis=1)
    w = np.ones(len(y)) if weight is None else np.asarray(weight, dtype=np.float64)
    return float((w * per_row).sum() / w.sum())


def softmax_ce_grad_hess(y: np.ndarray, logits: np.ndarray, weight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Gradient and diagonal Hessian of sum_i w_i CE(y_i, softmax(z_i)) w.r.t. the raw scores z."""
    p = softmax(np.asarray(logits, dtype=np.float64), axis=1)
    w = np.ones((len(p), 1)) if weight is None else np.asarray(weight, dtype=np.float64).reshape(-1, 1)
    grad = w * (p - y)
    # Floor the Hessian so a leaf whose rows are all saturated still gets a finite Newton step.
    hess = w * np.maximum(p * (1.0 - p), 1e-16)
    return grad, hess


def softmax_ce_objective(y: np.ndarray):
    """LightGBM custom objective for soft targets `y` (n, 6) of the training Dataset.

    LightGBM >= 4 passes multiclass raw scores as (n, num_class) and accepts (n, num_class)
    gradients; a custom objective must apply the Dataset's weights itself.
    """
    y = np.asarray(y, dtype=np.float64)

    def objective(preds: np.ndarray, dataset) -> tuple[np.ndarray, np.ndarray]:
        preds = np.asarray(preds).reshape(len(y), N_CLASSES)
        return softmax_ce_grad_hess(y, preds, dataset.get_weight())

    return objective


def expand_soft_labels(x: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Row expansion: (x, y, w) -> (x_rep, class label, weight, source row) with one copy per non-zero target.

    Copies of a row stay adjacent and in class order, so the expansion is deterministic.
    """
    y = np.asarray(y, dtype=np.float64)
    w = np.ones(len(y)) if weight is None else np.asarray(weight, dtype=np.float64)
    rows, labels = np.nonzero(y > 0)
    return np.asarray(x)[rows], labels.astype(np.int64), w[rows] * y[rows, labels], rows


def vote_weights(n_votes: np.ndarray, power: float, cap: int) -> np.ndarray:
    """Row weight (min(n_votes, cap) / cap) ** power: eegs with few annotators count less.

    power 0 = unweighted; 1 = proportional to the votes up to `cap`; eegs with >= cap votes weigh 1.
    """
    n = np.asarray(n_votes, dtype=np.float64)
    if (n <= 0).any():
        raise ValueError("vote_weights: a sample has no votes (n_votes <= 0); check data/prepared/train.parquet")
    return (np.minimum(n, cap) / cap) ** power
