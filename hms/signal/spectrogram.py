"""Batched short-time power spectra, triangular filter banks and dB scaling.

`power_spectrogram` reproduces librosa's `stft(center=True, pad_mode="constant")` power for a
window shorter than the FFT (the Hann window is centred in the n_fft frame, as librosa does), but
frames only the `win_length` samples the window covers, so it runs on whole batches at once.
`filterbank(scale="mel")` is librosa's Slaney mel filter bank (htk=False, norm="slaney"); below
1 kHz the Slaney mel scale is linear, so for EEG (fmax 20 Hz) "mel" and "linear" coincide.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import fft as sfft
from scipy.signal import get_window

FreqScale = Literal["mel", "linear"]


def n_frames(n_samples: int, hop: int) -> int:
    """Frames of a centred STFT (librosa's count)."""
    return 1 + n_samples // hop


def power_spectrogram(x: np.ndarray, n_fft: int, win_length: int, hop: int, n_bins: int | None = None) -> np.ndarray:
    """(..., time) -> (..., n_bins, frames) |STFT|^2 with a periodic Hann window, centred frames.

    n_bins (default n_fft // 2 + 1) keeps only the lowest bins; when it is small they are computed
    as one matrix product with a windowed DFT basis instead of full FFTs (the EEG needs ~100 of 513)."""
    if win_length > n_fft or (n_fft - win_length) % 2:
        raise ValueError(f"win_length {win_length} must be <= n_fft {n_fft} with an even difference")
    n_full = n_fft // 2 + 1
    n_bins = n_full if n_bins is None else min(int(n_bins), n_full)
    x = np.asarray(x, dtype=np.float32)
    half = win_length // 2
    pad = [(0, 0)] * (x.ndim - 1) + [(half, half)]
    frames = sliding_window_view(np.pad(x, pad), win_length, axis=-1)[..., ::hop, :][..., : n_frames(x.shape[-1], hop), :]
    if n_bins * 4 < n_full:
        basis = _dft_basis(n_fft, win_length, n_bins)  # (win_length, 2 * n_bins): cos | sin
        proj = np.matmul(frames, basis)
        power = proj[..., :n_bins] ** 2 + proj[..., n_bins:] ** 2
    else:
        window = get_window("hann", win_length, fftbins=True).astype(np.float32)
        # Zero-padding to n_fft at the end instead of around the window changes only the phase.
        spec = sfft.rfft(frames * window, n=n_fft, axis=-1)[..., :n_bins]
        power = spec.real ** 2 + spec.imag ** 2
    return np.swapaxes(power.astype(np.float32), -1, -2)


@lru_cache(maxsize=8)
def _dft_basis(n_fft: int, win_length: int, n_bins: int) -> np.ndarray:
    window = get_window("hann", win_length, fftbins=True)
    angle = 2 * np.pi * np.outer(np.arange(win_length), np.arange(n_bins)) / n_fft
    basis = np.concatenate([window[:, None] * np.cos(angle), window[:, None] * np.sin(angle)], axis=1)
    basis = basis.astype(np.float32)
    basis.setflags(write=False)
    return basis


def needed_bins(fb: np.ndarray) -> int:
    """Number of leading FFT bins a filter bank uses (the rest are zero-weighted)."""
    nz = np.flatnonzero(fb.any(axis=0))
    return int(nz[-1]) + 1 if len(nz) else 1


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    logstep = np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_hz / f_sp + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, f / f_sp)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


@lru_cache(maxsize=16)
def filterbank(n_bands: int, n_fft: int, fs: float, fmin: float, fmax: float, scale: FreqScale = "mel") -> np.ndarray:
    """(n_bands, n_fft // 2 + 1) triangular, area-normalised filters with centres equally spaced on `scale`."""
    if not 0 <= fmin < fmax <= fs / 2:
        raise ValueError(f"filter bank range {fmin}-{fmax} Hz must satisfy 0 <= fmin < fmax <= fs/2 = {fs / 2}")
    fft_freqs = np.linspace(0, fs / 2, n_fft // 2 + 1)
    if scale == "mel":
        edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_bands + 2))
    elif scale == "linear":
        edges = np.linspace(fmin, fmax, n_bands + 2)
    else:
        raise ValueError(f"freq_scale must be 'mel' or 'linear', not {scale!r}")
    fdiff = np.diff(edges)
    ramps = edges[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    weights.setflags(write=False)
    return weights.astype(np.float32)


def power_to_db(power: np.ndarray, top_db: float = 80.0, amin: float = 1e-10) -> np.ndarray:
    """librosa.power_to_db(S, ref=np.max) over the last two axes (one reference per spectrogram).

    A spectrogram with no power at all (a zeroed, dead channel) becomes -top_db everywhere
    rather than librosa's 0 dB, so dead channels look silent, not loud."""
    # max(log(x)) = log(max(x)): the reference costs one pass over the power, not over its log.
    ref = np.maximum(power.max(axis=(-2, -1), keepdims=True), amin).astype(np.float32)
    db = np.maximum(power, amin, dtype=np.float32)
    db /= ref
    np.log10(db, out=db)
    db *= 10.0
    np.maximum(db, -top_db, out=db)
    dead = ref[..., 0, 0] <= amin
    if dead.any():
        db[dead] = -top_db
    return db


@lru_cache(maxsize=16)
def area_resample_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights: each output bin is the overlap-weighted mean of the input bins it covers
    (area interpolation; an anti-aliased downsample, piecewise-constant upsample)."""
    edges_in = np.arange(n_in + 1) / n_in
    edges_out = np.arange(n_out + 1) / n_out
    lo = np.maximum(edges_out[:-1, None], edges_in[None, :-1])
    hi = np.minimum(edges_out[1:, None], edges_in[None, 1:])
    w = np.clip(hi - lo, 0.0, None)
    w /= w.sum(axis=1, keepdims=True)
    return w.astype(np.float32)


def resize(x: np.ndarray, n_freqs: int, n_times: int) -> np.ndarray:
    """(..., F, T) -> (..., n_freqs, n_times) by area interpolation along both axes."""
    a = area_resample_matrix(x.shape[-2], n_freqs)
    b = area_resample_matrix(x.shape[-1], n_times)
    return np.einsum("fi,...ij,tj->...ft", a, x, b, optimize=True).astype(np.float32)
