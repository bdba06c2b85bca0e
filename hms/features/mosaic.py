"""Mosaic panels: Kaggle spectrogram (K_*) and EEG spectrogram (E_*) of each chain.

Output per window: float (n_panels, n_freqs, n_frames), rows = frequency ascending, columns =
time ascending, panel order = `MosaicConfig.panels` (default K_LL, K_RL, K_LP, K_RP, E_LL, E_RL,
E_LP, E_RP). Values are roughly in [-3, 3]:
- E_*: per channel of the `montage` (bipolar pair, or average-reference slot in the bipolar
  layout), power spectrogram of the 50 s preprocessed window through a triangular (mel or linear)
  filter bank up to fmax, in dB relative to that channel's maximum, floored at -top_db, mapped to
  [-1, 1] by (db + top_db/2) / (top_db/2), then averaged over the chain's 4 channels (the popular
  starter's recipe on the bipolar pairs; see `eeg_panels` for how it is computed quickly). The K
  panels are the bipolar chains' whatever the montage, so `average` (default) gives the net both.
- K_*: the 600 s Kaggle window, natural log of values clipped to exp(spec_log_clip), standardised
  per window over its finite values, NaN -> 0, area-resized from 100 x 300 to n_freqs x n_frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np
from scipy import sparse

from hms.constants import FS, SPEC_REGIONS
from hms.errors import ConfigError
from hms.signal.montage import CHAIN_INDEX, CHAINS, PANELS, check_montages
from hms.signal.preprocess import SignalConfig, preprocess
from hms.signal.spectrogram import filterbank, mean_scaled_db, needed_bins, power_bins_major, resize_time_major


@dataclass
class MosaicConfig:
    """params.yaml `features.mosaic`."""

    panels: list[str] = field(default_factory=lambda: list(PANELS))
    n_freqs: int = 64  # F: filter-bank bands (E) / resized frequency rows (K)
    n_frames: int = 128  # T: STFT frames over 50 s (E) / resized time columns (K)
    freq_scale: str = "mel"  # mel | linear (identical below 1 kHz, see hms.signal.spectrogram)
    n_fft: int = 1024
    win_length: int = 128
    fmin_hz: float = 0.0
    fmax_hz: float = 20.0
    top_db: float = 80.0
    spec_log_clip: list[float] = field(default_factory=lambda: [-4.0, 8.0])  # ln range of Kaggle values
    # montage of the E panels: average (measured better for efficientnet, docs/neural.md) | bipolar
    montage: str = "average"

    def __post_init__(self) -> None:
        bad = [p for p in self.panels if p not in PANELS]
        if bad or not self.panels or len(set(self.panels)) != len(self.panels):
            raise ConfigError(f"features.mosaic.panels: {self.panels} must be distinct names from {list(PANELS)}")
        if self.n_freqs < 1 or self.n_frames < 1:
            raise ConfigError("features.mosaic.n_freqs and n_frames must be >= 1")
        check_montages([self.montage], "features.mosaic.montage")


def panel_shape(cfg: MosaicConfig) -> tuple[int, int, int]:
    return len(cfg.panels), cfg.n_freqs, cfg.n_frames


def eeg_panels(bip: np.ndarray, cfg: MosaicConfig) -> np.ndarray:
    """(batch, 18, time) one montage -> (batch, 4, n_freqs, n_frames) chain spectrograms in CHAINS order.

    Window by window (its intermediates stay in cache, and a window's panels never depend on the
    other windows of its chunk): power of the 16 chain pairs at the bins below fmax only, laid out
    (bin, pair, frame); the filter bank (a few non-zero bins per band) as one sparse product;
    dB scaling and the chain mean fused (`mean_scaled_db`)."""
    hop = bip.shape[-1] // cfg.n_frames
    if hop < 1:
        raise ConfigError(f"features.mosaic.n_frames {cfg.n_frames} exceeds the {bip.shape[-1]} samples of the window")
    chains = np.concatenate([CHAIN_INDEX[c] for c in CHAINS])
    fb = filterbank(cfg.n_freqs, cfg.n_fft, float(FS), cfg.fmin_hz, cfg.fmax_hz, cfg.freq_scale)
    k = needed_bins(fb)  # only the bins below fmax are computed
    bank = _sparse_bank(cfg.n_freqs, cfg.n_fft, cfg.fmin_hz, cfg.fmax_hz, cfg.freq_scale)
    out = np.empty((bip.shape[0], len(CHAINS), cfg.n_freqs, cfg.n_frames), dtype=np.float32)
    for i in range(bip.shape[0]):
        power = power_bins_major(bip[i, chains], cfg.n_fft, cfg.win_length, hop, n_bins=k, max_frames=cfg.n_frames)
        bands = (bank @ power.reshape(k, -1)).reshape(cfg.n_freqs, len(chains), cfg.n_frames)
        img = mean_scaled_db(bands, group=4, top_db=cfg.top_db, axis=1)  # (bands, chain, frames)
        out[i] = img.transpose(1, 0, 2)
    return out


@lru_cache(maxsize=8)
def _sparse_bank(n_freqs: int, n_fft: int, fmin: float, fmax: float, scale: str) -> sparse.csr_matrix:
    fb = filterbank(n_freqs, n_fft, float(FS), fmin, fmax, scale)  # type: ignore[arg-type]
    return sparse.csr_matrix(fb[:, : needed_bins(fb)])


def kaggle_panels(spec: np.ndarray, cfg: MosaicConfig) -> np.ndarray:
    """(batch, 300, 400) Kaggle windows -> (batch, 4, n_freqs, n_frames) in SPEC_REGIONS order.

    Standardising a window is affine and the area resize is linear with rows summing to 1, so the
    window is resized first (NaN cells filled with the window's mean, which standardises to the
    required 0) and the small result standardised: the same values for a fraction of the work."""
    lo, hi = np.exp(cfg.spec_log_clip[0]), np.exp(cfg.spec_log_clip[1])
    x = np.clip(np.asarray(spec, dtype=np.float32), np.float32(lo), np.float32(hi))
    np.log(x, out=x)  # NaN stays NaN
    b, t, cols = x.shape
    finite = np.isfinite(x)
    all_finite = bool(finite.all())
    if all_finite:
        n = np.full((b, 1, 1), t * cols, dtype=np.float64)
        total = x.sum(axis=(1, 2), dtype=np.float64, keepdims=True)
    else:
        n = finite.sum(axis=(1, 2), keepdims=True).astype(np.float64)
        total = np.where(finite, x, 0).sum(axis=(1, 2), dtype=np.float64, keepdims=True)
    mean = total / np.maximum(n, 1)
    dev = x - mean.astype(np.float32)
    if not all_finite:
        dev[~finite] = 0.0
    std = np.sqrt(np.square(dev).sum(axis=(1, 2), dtype=np.float64, keepdims=True) / np.maximum(n, 1))
    # Resize the deviations (NaN cells = 0 = the mean), then scale: (batch, region, freq, time).
    small = resize_time_major(dev, len(SPEC_REGIONS), cfg.n_freqs, cfg.n_frames)
    small *= (1.0 / (std + 1e-6)).astype(np.float32)[:, :, :, None]
    return small


def mosaic_from_montage(eeg: Callable[[], np.ndarray], spec: np.ndarray, cfg: MosaicConfig) -> np.ndarray:
    """A function giving the E panels (B, 4, F, T) of cfg.montage (eeg_panels of the preprocessed windows,
    or `hms scan`'s eeg_panels_from_frames; called only if cfg.panels has E panels) + (B, 300, 400) Kaggle
    windows -> (B, n_panels, F, T) float32 in cfg.panels order. mosaic_batch and the scan both end here."""
    parts: dict[str, np.ndarray] = {}
    if any(p.startswith("K_") for p in cfg.panels):
        k = kaggle_panels(spec, cfg)
        parts.update({f"K_{r}": k[:, i] for i, r in enumerate(SPEC_REGIONS)})
    if any(p.startswith("E_") for p in cfg.panels):
        e = eeg()
        parts.update({f"E_{c}": e[:, i] for i, c in enumerate(CHAINS)})
    return np.stack([parts[p] for p in cfg.panels], axis=1).astype(np.float32)


def mosaic_batch(raw: np.ndarray, spec: np.ndarray, sig: SignalConfig, cfg: MosaicConfig,
                 ids: Sequence[object] | None = None) -> np.ndarray:
    """Raw windows (batch, 20, 10000) + Kaggle windows (batch, 300, 400) -> (batch, n_panels, F, T) float32."""
    return mosaic_from_montage(lambda: eeg_panels(preprocess(raw, sig, ids, montages=[cfg.montage]), cfg), spec, cfg)
