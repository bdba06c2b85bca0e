"""Raw EEG windows -> clean bipolar signals: the one preprocessing path shared by all features.

raw (batch, 20, time) µV -> impossible values (non-finite, beyond ±10 mV) become NaN
(hms.signal.artifacts) -> NaN handling on the 19 scalp electrodes (hms.signal.clean) ->
bipolar montage (18 pairs; the waves also the average-reference montage, hms.signal.montage) ->
channels touching a zeroed electrode set to 0 -> optional zero-phase band-pass and notch ->
clipping to ±clip_uv. Scaling is left to each representation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from hms.constants import FS, SCALP_CHANNELS
from hms.errors import ConfigError
from hms.signal.artifacts import mask_eeg_artifacts
from hms.signal.clean import fill_gaps
from hms.signal.filters import bandpass, notch
from hms.signal.montage import MONTAGES, average_reference, bipolar, bipolar_mask

log = logging.getLogger(__name__)


@dataclass
class SignalConfig:
    """params.yaml `features.signal`."""

    band_hz: list[float] | None = field(default_factory=lambda: [0.5, 20.0])  # [low, high] Butterworth; null = none
    filter_order: int = 4
    notch_hz: float | None = None  # 50 or 60 to remove mains hum; null = none
    notch_q: float = 30.0
    clip_uv: float | None = 1024.0  # clip bipolar signals to ±clip_uv after filtering; null = none
    max_gap_s: float = 1.0  # NaN runs up to this long are interpolated; longer ones zeroed

    def __post_init__(self) -> None:
        if self.band_hz is not None:
            if len(self.band_hz) != 2:
                raise ConfigError(f"features.signal.band_hz must be [low, high] or null, got {self.band_hz}")
            self.band_hz = [float(v) for v in self.band_hz]
        if self.max_gap_s < 0:
            raise ConfigError("features.signal.max_gap_s must be >= 0")



def preprocess(raw: np.ndarray, cfg: SignalConfig, ids: Sequence[object] | None = None,
               montages: Sequence[str] = ("bipolar",)) -> np.ndarray:
    """(batch, 19 or 20, time) raw µV -> (batch, 18 x len(montages), time) float32 montages (bipolar
    and / or average, in that order), finite, filtered, clipped."""
    unknown = [m for m in montages if m not in MONTAGES]
    if unknown or not montages:
        raise ValueError(f"preprocess: montages must be among {MONTAGES}, got {list(montages)}")
    scalp = np.asarray(raw)[:, : len(SCALP_CHANNELS), :]  # EKG is not part of the montage
    # Before the filter, which would spread one absurd sample over the whole window.
    scalp = mask_eeg_artifacts(scalp, ids=ids, channel_names=SCALP_CHANNELS)
    filled, mask = fill_gaps(scalp, int(round(cfg.max_gap_s * FS)), ids=ids, channel_names=SCALP_CHANNELS)
    parts = []
    if "bipolar" in montages:
        parts.append((bipolar(filled), bipolar_mask(mask)))
    if "average" in montages:
        parts.append(average_reference(filled, mask))
    x, bad = (np.concatenate(v, axis=1) for v in zip(*parts)) if len(parts) > 1 else parts[0]
    if bad.any():
        x[bad] = 0.0
    if cfg.band_hz is not None:
        x = bandpass(x, FS, cfg.band_hz[0], cfg.band_hz[1], cfg.filter_order)
    if cfg.notch_hz is not None:
        x = notch(x, FS, cfg.notch_hz, cfg.notch_q)
    if cfg.clip_uv is not None:
        np.clip(x, -cfg.clip_uv, cfg.clip_uv, out=x)
    return x
