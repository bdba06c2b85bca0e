"""Waveforms for the nets on signals: the preprocessed 18 bipolar channels and the 18 average-reference
slots (hms.signal.montage), resampled and scaled; each net reads the montage it is configured for.

Output per window: float (36, seconds * fs_out), channel order hms.signal.montage.WAVES_NAMES,
values = clipped µV / scale_uv. The whole 50 s window is filtered and resampled first (so the
filter and the anti-alias FIR see no artificial edges), then its central `seconds` are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from hms.constants import EEG_WINDOW_S, FS
from hms.errors import ConfigError
from hms.signal.filters import resample
from hms.signal.montage import MONTAGES, WAVES_NAMES
from hms.signal.preprocess import SignalConfig, preprocess


@dataclass
class WavesConfig:
    """params.yaml `features.waves`."""

    seconds: float = 50.0  # central part of the 50 s window to keep
    fs_out: int = 40  # Hz after anti-aliased resampling (200 = keep)
    scale_uv: float = 32.0  # divide the clipped µV by this (bipolar std is about 30-60 µV)

    def __post_init__(self) -> None:
        if not 0 < self.seconds <= EEG_WINDOW_S:
            raise ConfigError(f"features.waves.seconds must be in (0, {EEG_WINDOW_S}], got {self.seconds}")
        if self.fs_out < 1 or self.fs_out > FS:
            raise ConfigError(f"features.waves.fs_out must be in [1, {FS}], got {self.fs_out}")
        if (self.seconds * self.fs_out) % 1:
            raise ConfigError("features.waves.seconds * fs_out must be a whole number of samples")


def waves_shape(cfg: WavesConfig) -> tuple[int, int]:
    return len(WAVES_NAMES), int(cfg.seconds * cfg.fs_out)


def waves_batch(raw: np.ndarray, sig: SignalConfig, cfg: WavesConfig, ids: Sequence[object] | None = None) -> np.ndarray:
    """Raw windows (batch, 20, 10000) -> (batch, 36, seconds * fs_out) float32."""
    x = resample(preprocess(raw, sig, ids, MONTAGES), FS, cfg.fs_out)
    n = waves_shape(cfg)[1]
    start = (x.shape[-1] - n) // 2
    return (x[..., start:start + n] / cfg.scale_uv).astype(np.float32)
