"""Features of many overlapping windows from signals prepared once per chunk of the recording.

`hms.features.*_batch` each start with `preprocess(raw window)` (NaN handling, montages,
band-pass, clipping) and the waves also resample the window; for windows every 2 s that is 25
times the same work on the same samples. Here `preprocess` and `resample` run once on a chunk of
the recording and the windows are views into the result; what follows is the second half of each
batch function, unchanged:
- mosaic: `mosaic_from_montage` (hms.features.mosaic), where `mosaic_batch` ends too; the E panels' STFT frames can also be computed once per chunk on a grid of frame centres and
  each window take its frames from it (`chain_power_frames`, `eeg_panels_from_frames`): exact when
  the window step is a multiple of the frame hop (0.39 s with the default 128 frames per 50 s,
  e.g. --step 1.95), otherwise each frame is the grid frame nearest to it (at most hop / 6 =
  65 ms away with the defaults);
- waves: the central `seconds` of the resampled signal divided by `scale_uv`;
- tabular: the central segment of each montage to `tabular_from_montages` (hms.features.tabular),
  where `tabular_batch` ends too; its Welch spectra can come from the chunk's segment periodograms
  (`Chunk.periodograms`, `welch_mean`), exact when the window step is a whole number of seconds.

Given the montages that `preprocess` makes of each window, these functions return exactly
(bit for bit) what the batch functions return; tests/test_scan.py checks it. They belong in
hms.features (each *_batch = preprocess + these), and are here only until that move (issue 12
report): keep them in step with the batch functions until then.
"""

from __future__ import annotations

import numpy as np

from hms.constants import FS, SCALP_CHANNELS
from hms.features.mosaic import MosaicConfig, _sparse_bank
from hms.features.tabular import FILTER_MARGIN_S, TabularConfig, gap_mask
from hms.features.waves import WavesConfig, waves_shape
from hms.signal.montage import CHAIN_INDEX, CHAINS
from hms.signal.spectrogram import filterbank, mean_scaled_db, needed_bins, power_bins_major


def frame_hop(window_hop: int, step: int) -> int:
    """Hop (samples) of the STFT frame grid shared by all windows: the windows' own frame hop when
    window starts fall on it (then every window's frames are grid frames), else its largest divisor
    <= hop / 3, so that each window's frames are the grid frames at most hop / 6 away."""
    if step % window_hop == 0:
        return window_hop
    return max(d for d in range(1, window_hop // 3 + 1) if window_hop % d == 0)


def chain_power_frames(bip: np.ndarray, origin: int, cfg: MosaicConfig, grid: int) -> tuple[np.ndarray, int]:
    """Power of the 16 chain channels of a (18, n) preprocessed stretch of one montage (its first
    sample is sample `origin` of the recording) at the bins below fmax, in frames centred on the recording samples
    that are multiples of `grid`: ((bins, 16, frames), stretch sample of frame 0). The same
    `power_bins_major` as eeg_panels, run once for all the windows of the stretch."""
    chains = np.concatenate([CHAIN_INDEX[c] for c in CHAINS])
    k = needed_bins(filterbank(cfg.n_freqs, cfg.n_fft, float(FS), cfg.fmin_hz, cfg.fmax_hz, cfg.freq_scale))
    first = (-origin) % grid
    return power_bins_major(np.ascontiguousarray(bip[chains, first:]), cfg.n_fft, cfg.win_length, grid, n_bins=k), first


def eeg_panels_from_frames(power: np.ndarray, first: int, grid: int, bip: np.ndarray, offsets: np.ndarray,
                           window: int, cfg: MosaicConfig) -> np.ndarray:
    """eeg_panels of the windows starting at samples `offsets` of the (18, n) stretch `bip`, from its
    chain_power_frames: window frame j (centred at offset + j * hop) is the grid frame nearest to
    it, except frame 0, which a window's own centred STFT pads with zeros before its first sample:
    that one frame is computed per window, as eeg_panels does."""
    hop = window // cfg.n_frames
    if hop % grid:
        raise ValueError(f"frame grid {grid} does not divide the windows' frame hop {hop}")
    bank = _sparse_bank(cfg.n_freqs, cfg.n_fft, cfg.fmin_hz, cfg.fmax_hz, cfg.freq_scale)
    chains = np.concatenate([CHAIN_INDEX[c] for c in CHAINS])
    k, pairs = power.shape[:2]
    q0 = np.floor((np.asarray(offsets) - first) / grid + 0.5).astype(np.int64)
    cols = np.arange(1, cfg.n_frames) * (hop // grid)
    if q0.min() < 0 or q0.max() + cols[-1] >= power.shape[-1]:
        raise ValueError("window frames outside the stretch's frame grid")
    half = cfg.win_length // 2
    out = np.empty((len(offsets), len(CHAINS), cfg.n_freqs, cfg.n_frames), dtype=np.float32)
    p = np.empty((k, pairs, cfg.n_frames), dtype=np.float32)
    for i, (o, q) in enumerate(zip(offsets, q0)):
        p[:, :, :1] = power_bins_major(bip[chains, o: o + half], cfg.n_fft, cfg.win_length, hop, n_bins=k, max_frames=1)
        p[:, :, 1:] = power[:, :, q + cols]
        bands = (bank @ p.reshape(k, -1)).reshape(cfg.n_freqs, pairs, cfg.n_frames)
        out[i] = mean_scaled_db(bands, group=4, top_db=cfg.top_db, axis=1).transpose(1, 0, 2)
    return out


def waves_from_resampled(x: np.ndarray, cfg: WavesConfig) -> np.ndarray:
    """(B, 36, 50 s x fs_out) resampled preprocessed windows (both montages) -> waves_batch's output."""
    n = waves_shape(cfg)[1]
    start = (x.shape[-1] - n) // 2
    return (x[..., start:start + n] / cfg.scale_uv).astype(np.float32)


def tabular_segment(window_samples: int, cfg: TabularConfig) -> tuple[int, int]:
    """[start, stop) within a window of the central segment the EEG features use."""
    n = int(round(cfg.eeg_seconds * FS))
    start = (window_samples - n) // 2
    return start, start + n


def tabular_shares_filtering(window_samples: int, cfg: TabularConfig) -> bool:
    """Whether the chunk's shared filtering gives the feature stage's EEG columns: only when the segment
    keeps FILTER_MARGIN_S of the window on each side (eeg_seconds <= 30). A longer segment reaches into
    the band-pass transient at the window's ends, which the feature stage's per-window filtering has and
    a filter run over the whole recording does not (50 s: features 17 % apart at p99, docs/gbdt.md)."""
    return tabular_segment(window_samples, cfg)[0] >= FILTER_MARGIN_S * FS


def nan_share(raw_block: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """Share of gap samples (NaN, or impossible values that preprocessing masks as gaps) of the 19
    scalp channels in windows [s, s + length) of a (20, n) block (tabular's eeg_nan_frac), from one
    cumulative count."""
    counts = gap_mask(raw_block).sum(axis=0)
    cs = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])
    return (cs[starts + length] - cs[starts]) / float(len(SCALP_CHANNELS) * length)
