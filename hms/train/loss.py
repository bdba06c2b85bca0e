"""The training loss of the neural models: Kaggle's KL(votes || softmax(logits)) on logits.

It equals `hms.metrics.kl_divergence(y, softmax(logits))` (terms with a zero target count 0, rows
summed over classes then averaged), except that the metric clips probabilities to [1e-15, 1-1e-15]:
the two differ only for logits so extreme that a predicted probability with a positive target
falls below 1e-15, which log_softmax handles without overflow.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def kl_per_sample(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B,) KL(target || softmax(logits)); computed in float32 even under AMP."""
    log_p = F.log_softmax(logits.float(), dim=1)
    # kl_div uses xlogy, so a zero target contributes exactly 0, as in the metric.
    return F.kl_div(log_p, target.float(), reduction="none").sum(dim=1)


def kl_loss(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Weighted batch mean of the per-sample KL (plain mean when `weight` is None)."""
    per_sample = kl_per_sample(logits, target)
    if weight is None:
        return per_sample.mean()
    weight = weight.float()
    return (per_sample * weight).sum() / weight.sum().clamp_min(1e-12)
