"""NaN handling: no NaN ever leaves this module.

Policy (per channel of each window, along time):
- a run of NaN/inf samples no longer than `max_gap` samples is filled by linear interpolation
  between its neighbours (held constant at the start or end of the window);
- a longer run is set to 0 and marked in the returned mask (callers zero the bipolar pairs
  that use a masked electrode, so a dead electrode does not leak its neighbour's signal);
- an all-NaN channel or an all-NaN window becomes zeros (masked) and logs a warning.
Impossible values (±inf, beyond the physiological bound) reach this module already turned into
NaN by hms.signal.artifacts (hms.signal.preprocess does both), so they are gaps like any other.
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

log = logging.getLogger(__name__)


def fill_gaps(x: np.ndarray, max_gap: int, ids: Sequence[object] | None = None,
              channel_names: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(batch, channels, time) -> (filled float32 copy, bool mask of zeroed samples), vectorised.

    `ids` (one per window) and `channel_names` only make the warnings say which window and channel.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 3:
        raise ValueError(f"fill_gaps: expected (batch, channels, time), got shape {x.shape}")
    valid = np.isfinite(x)
    if valid.all():
        return x.copy(), np.zeros(x.shape, dtype=bool)
    b, c, t = x.shape
    out = x.copy()
    mask = np.zeros(x.shape, dtype=bool)
    # Only the channels that contain a NaN go through the (memory-hungry) vectorised repair.
    rows = np.flatnonzero(~valid.all(axis=-1).ravel())
    filled, long_gap = _fill_rows(x.reshape(b * c, t)[rows], valid.reshape(b * c, t)[rows], max_gap)
    out.reshape(b * c, t)[rows] = filled
    mask.reshape(b * c, t)[rows] = long_gap
    _warn_dead(valid, ids, channel_names)
    return out, mask


def _fill_rows(x: np.ndarray, valid: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, time) with NaNs -> (filled, mask of the zeroed long-gap samples)."""
    t = x.shape[-1]
    idx = np.arange(t)
    # Index of the previous / next valid sample at every position (-1 / t where there is none).
    prev = np.maximum.accumulate(np.where(valid, idx, -1), axis=-1)
    nxt = np.minimum.accumulate(np.where(valid, idx, t)[..., ::-1], axis=-1)[..., ::-1]
    gap = nxt - prev - 1  # length of the NaN run a position belongs to (edge runs included)
    short = ~valid & (gap <= max_gap)
    xv = np.where(valid, x, 0.0)
    left = np.take_along_axis(xv, np.clip(prev, 0, t - 1), axis=-1)
    right = np.take_along_axis(xv, np.clip(nxt, 0, t - 1), axis=-1)
    left = np.where(prev < 0, right, left)  # leading run: hold the first valid value
    right = np.where(nxt >= t, left, right)  # trailing run: hold the last valid value
    span = np.maximum(nxt - prev, 1)
    frac = np.clip((idx - prev) / span, 0.0, 1.0)
    out = np.where(valid, x, np.where(short, left + (right - left) * frac, 0.0)).astype(np.float32)
    return out, ~valid & ~short


def _warn_dead(valid: np.ndarray, ids: Sequence[object] | None, channel_names: Sequence[str] | None) -> None:
    dead = ~valid.any(axis=-1)  # (batch, channels)
    for i in np.flatnonzero(dead.any(axis=1)):
        who = ids[i] if ids is not None else f"window {i}"
        if dead[i].all():
            log.warning("%s: every sample of the window is NaN or impossible; using zeros", who)
        else:
            names = [channel_names[k] if channel_names is not None else str(k) for k in np.flatnonzero(dead[i])]
            log.warning("%s: channel(s) %s are entirely NaN or impossible; using zeros", who, ", ".join(names))
