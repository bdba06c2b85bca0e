"""Initialisation shared by the nets' classification heads."""

from __future__ import annotations

import torch.nn as nn


def small_init_head(head: nn.Module) -> None:
    """Near-zero init of a new 6-class head: predictions start near uniform (KL about 1.2).
    timm's EfficientNet init gives this head logits of std ~5, an initial KL of 3+ that costs epochs."""
    if isinstance(head, nn.Linear):
        nn.init.normal_(head.weight, std=0.01)
        nn.init.zeros_(head.bias)
