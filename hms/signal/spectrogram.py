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
from scipy import sparse
from scipy.signal import get_window

from hms.errors import ConfigError

FreqScale = Literal["mel", "linear"]


def n_frames(n_samples: int, hop: int) -> int:
    """Frames of a centred STFT (librosa's count)."""
    return 1 + n_samples // hop


def power_spectrogram(x: np.ndarray, n_fft: int, win_length: int, hop: int, n_bins: int | None = None) -> np.ndarray:
    """(..., time) -> (..., n_bins, frames) |STFT|^2 with a periodic Hann window, centred frames.

    n_bins (default n_fft // 2 + 1) keeps only the lowest bins; when it is small they are computed
    as matrix products with a windowed DFT basis instead of full FFTs (the EEG needs ~100 of 513)."""
    x = np.asarray(x, dtype=np.float32)
    lead, n = x.shape[:-1], x.shape[-1]
    power = power_bins_major(x.reshape(-1, n), n_fft, win_length, hop, n_bins)  # (bins, rows, frames)
    return np.moveaxis(power.reshape(power.shape[0], *lead, power.shape[-1]), 0, -2)


def power_bins_major(x: np.ndarray, n_fft: int, win_length: int, hop: int, n_bins: int | None = None,
                     max_frames: int | None = None) -> np.ndarray:
    """`power_spectrogram` of (channels, time) laid out (n_bins, channels, frames), float32; only the
    first `max_frames` frames if given.

    Low-bin path: the periodic Hann window is symmetric about the frame centre c, so with
    e[m] = x[c+m] + x[c-m] and o[m] = x[c+m] - x[c-m] the real part of the DFT only needs the
    cosines of e and the imaginary part the sines of o: two (n_bins, c) @ (c, frames) products,
    half the work of projecting the whole frame (the centre's phase shift drops out of |X|^2)."""
    if win_length > n_fft or (n_fft - win_length) % 2:
        raise ConfigError(f"win_length {win_length} must be <= n_fft {n_fft} with an even difference")
    n_full = n_fft // 2 + 1
    n_bins = n_full if n_bins is None else min(int(n_bins), n_full)
    x = np.asarray(x, dtype=np.float32)
    rows, n = x.shape
    half = win_length // 2
    count = n_frames(n, hop) if max_frames is None else min(int(max_frames), n_frames(n, hop))
    frames = sliding_window_view(np.pad(x, [(0, 0), (half, half)]), win_length, axis=-1)[:, ::hop, :][:, :count, :]
    if n_bins * 4 < n_full and win_length % 2 == 0:
        cos_t, sin_t = _folded_dft_basis(n_fft, win_length, n_bins)
        by_lag = frames.transpose(2, 0, 1)  # (win_length, rows, frames) view
        right, left = by_lag[half:], by_lag[half:0:-1]  # x[c+m], x[c-m] for m = 0..c-1
        re = cos_t @ (right + left).reshape(half, -1)
        im = sin_t @ (right - left).reshape(half, -1)
        re *= re
        im *= im
        re += im
        return re.reshape(n_bins, rows, count)
    window = get_window("hann", win_length, fftbins=True).astype(np.float32)
    # Zero-padding to n_fft at the end instead of around the window changes only the phase.
    spec = sfft.rfft(frames * window, n=n_fft, axis=-1)[..., :n_bins]
    return np.ascontiguousarray((spec.real ** 2 + spec.imag ** 2).astype(np.float32).transpose(2, 0, 1))


@lru_cache(maxsize=8)
def _folded_dft_basis(n_fft: int, win_length: int, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """(n_bins, c) cosine and sine bases over the half-frame m = 0..c-1, Hann-weighted; the cosine
    column m = 0 is halved because e[0] = 2 x[c]."""
    half = win_length // 2
    window = get_window("hann", win_length, fftbins=True)[half:]  # w[c + m]
    angle = 2 * np.pi * np.outer(np.arange(half), np.arange(n_bins)) / n_fft
    cos_basis = window[:, None] * np.cos(angle)
    cos_basis[0] *= 0.5
    sin_basis = window[:, None] * np.sin(angle)
    out = (np.ascontiguousarray(cos_basis.T, dtype=np.float32), np.ascontiguousarray(sin_basis.T, dtype=np.float32))
    for a in out:
        a.setflags(write=False)
    return out


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
        raise ConfigError(f"filter bank range {fmin}-{fmax} Hz (fmin_hz, fmax_hz) must satisfy 0 <= fmin < fmax <= fs/2 = {fs / 2}")
    fft_freqs = np.linspace(0, fs / 2, n_fft // 2 + 1)
    if scale == "mel":
        edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_bands + 2))
    elif scale == "linear":
        edges = np.linspace(fmin, fmax, n_bands + 2)
    else:
        raise ConfigError(f"freq_scale must be 'mel' or 'linear', not {scale!r}")
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


def mean_scaled_db(power: np.ndarray, group: int, top_db: float = 80.0, amin: float = 1e-10, axis: int = 0) -> np.ndarray:
    """Mean over consecutive groups of `group` spectrograms of (power_to_db(p) + top_db/2) / (top_db/2).

    power: the spectrograms of one window, stacked along `axis` (a multiple of `group` of them),
    each with one dB reference (its max over the other axes). Returns the same layout with
    n // group spectrograms along `axis`, float32 in [-1, 1]. The same numbers as power_to_db then
    the mean, but the mean of logs is the log of a product, so it takes one log per output value,
    not one per input (the clipped ratios are >= 10^(-top_db/10), so a product of `group` of them
    stays a normal float whenever group * top_db < 370 dB; beyond that it is computed in float64)."""
    axis = axis % power.ndim
    n = power.shape[axis]
    if n % group:
        raise ValueError(f"mean_scaled_db: {n} spectrograms are not a multiple of the group size {group}")
    others = tuple(i for i in range(power.ndim) if i != axis)
    floor = 10.0 ** (-top_db / 10.0)
    dtype = np.float32 if group * top_db < 370.0 else np.float64
    # ratio = max(max(p, amin) / max(ref, amin), floor) = max(p * s, max(amin * s, floor)), s = 1 / max(ref, amin)
    ref = power.max(axis=others)
    scale = 1.0 / np.maximum(ref.astype(np.float64), amin)
    thresh = np.maximum(amin * scale, floor)
    dead = ref <= amin  # no power at all: silent (-top_db), as in power_to_db
    scale[dead], thresh[dead] = 0.0, floor
    shape = [1] * power.ndim
    shape[axis] = n
    ratio = np.multiply(power, scale.astype(dtype).reshape(shape), dtype=dtype)
    np.maximum(ratio, thresh.astype(dtype).reshape(shape), out=ratio)
    grouped = ratio.reshape(*power.shape[:axis], n // group, group, *power.shape[axis + 1:])
    take = [slice(None)] * grouped.ndim
    prod = None
    for j in range(group):
        take[axis + 1] = j
        prod = grouped[tuple(take)].copy() if prod is None else np.multiply(prod, grouped[tuple(take)], out=prod)
    out = np.log10(prod).astype(np.float32, copy=False)
    out *= np.float32(10.0 / (group * top_db / 2))
    out += np.float32(1.0)
    return out


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


@lru_cache(maxsize=16)
def _sparse_area_matrix(n_in: int, n_out: int) -> sparse.csr_matrix:
    return sparse.csr_matrix(area_resample_matrix(n_in, n_out))


def resize_time_major(x: np.ndarray, n_groups: int, n_freqs: int, n_times: int) -> np.ndarray:
    """(batch, time, n_groups * freq) -> (batch, n_groups, n_freqs, n_times): `resize` of the
    (group, freq, time) panels of a time-major table (the Kaggle spectrogram layout) without first
    transposing it. Time is resized by a sparse product (each output bin overlaps a few input bins),
    frequency by a small dense one."""
    b, t, cols = x.shape
    f = cols // n_groups
    if f * n_groups != cols:
        raise ValueError(f"resize_time_major: {cols} columns are not {n_groups} groups of equal size")
    by_time = np.ascontiguousarray(np.asarray(x, dtype=np.float32).transpose(1, 0, 2)).reshape(t, b * cols)
    y = _sparse_area_matrix(t, n_times) @ by_time  # (n_times, batch * cols)
    y = y.reshape(n_times * b * n_groups, f) @ area_resample_matrix(f, n_freqs).T  # (., n_freqs)
    return np.ascontiguousarray(y.reshape(n_times, b, n_groups, n_freqs).transpose(1, 2, 3, 0), dtype=np.float32)
