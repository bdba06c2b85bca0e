"""Training augmentation of the 1D nets on the `waves` features (wave, sparcnet)."""

from __future__ import annotations

import numpy as np

from hms.signal.montage import WAVES_FLIP
from hms.train.nn.config import NetConfig
from hms.train.nn.data import Augment, shift_time


def waves_augment(cfg: NetConfig, sample_shape: tuple[int, ...]) -> Augment:
    """Augmentation of one (36, T) waves sample: left/right flip with flip_prob (swap LL<->RL, LP<->RP
    channel by channel in both montages), then a zero-filled time shift of up to shift_frac of the window.
    Channel dropout and time reversal were measured and hurt (docs/neural.md)."""
    flip, shift = list(WAVES_FLIP), int(round(cfg.shift_frac * sample_shape[-1]))

    def augment(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if cfg.flip_prob > 0 and rng.random() < cfg.flip_prob:
            x = x[flip]
        if shift > 0:
            x = shift_time(x, int(rng.integers(-shift, shift + 1)))
        return x

    return augment
