"""Layers shared by the 1D nets on the `waves` features: the channel-alive mask and GeM pooling."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def alive_mask(x: torch.Tensor, window: int, eps: float = 1e-3) -> torch.Tensor:
    """(..., T) signals -> (..., T) float mask, 1 where the channel carries signal.

    Preprocessing zeroes the pairs of an electrode with a long NaN run (hms.signal.clean), so a
    masked channel is an exact run of zeros; a real EEG is never flat for a second. A sample is
    alive when the largest |x| within +-window/2 steps exceeds eps (the waves are in units of
    scale_uv, 32 uV by default, so eps is far below any real signal)."""
    lead = x.shape[:-1]
    flat = x.reshape(-1, 1, x.shape[-1]).abs()
    k = max(int(window) | 1, 1)  # odd window keeps the length
    peak = F.max_pool1d(flat, k, stride=1, padding=k // 2)
    return (peak > eps).to(x.dtype).reshape(*lead, x.shape[-1])


class GeM(nn.Module):
    """Generalised mean pooling over the last axis, p learned (the top HMS solutions' pooling):
    between the mean (p = 1) and the max (p -> inf), so short discharges are not averaged away."""

    def __init__(self, p: float = 3.0, eps: float = 1e-4) -> None:
        super().__init__()
        self.p = nn.Parameter(torch.tensor(float(p)))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.p.clamp(1.0, 8.0)
        return x.clamp_min(self.eps).pow(p).mean(dim=-1).pow(1.0 / p)
