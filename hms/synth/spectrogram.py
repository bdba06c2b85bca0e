"""Kaggle-style spectrograms: per chain (LL, RL, LP, RP) the mean over the chain's 4 bipolar pairs
of a Hann-windowed power spectrum, one row per 2 s at odd seconds, bins 3..102 of a 1024-point FFT
at 200 Hz (0.59-19.92 Hz).

The recording is held at 50 Hz (decimated from the 200 Hz EEG where an EEG file lies): a 256-point
FFT at 50 Hz has exactly the same bins (k * 50/256 = k * 200/1024 Hz) and the same 5.12 s window,
and all 100 bins lie below the 25 Hz Nyquist frequency, at a sixteenth of the cost."""

from __future__ import annotations

import numpy as np
import scipy.fft

from hms.constants import SCALP_CHANNELS, SPEC_STEP_S

SPEC_FS = 50  # Hz, sample rate of the recording the spectrogram is computed from
NFFT = 256  # at 50 Hz: the same 5.12 s window and bins as 1024 points at 200 Hz
BINS = slice(3, 103)
CHAINS: dict[str, tuple[str, ...]] = {
    "LL": ("Fp1", "F7", "T3", "T5", "O1"),
    "RL": ("Fp2", "F8", "T4", "T6", "O2"),
    "LP": ("Fp1", "F3", "C3", "P3", "O1"),
    "RP": ("Fp2", "F4", "C4", "P4", "O2"),
}
# Scale of the power density (µV²/Hz) to Kaggle's units, measured on the real test pair in
# tests/fixtures/kaggle_sample (EEG 3911565283 at the centre of spectrogram 853520): the real rows
# are about 0.52 x the one-sided power density of the same 50 s of EEG computed this way
# (ratio of means over the 4 chains at 2-20 Hz; the lowest bins of the real file are lower still).
KAGGLE_SCALE = 0.52


def _pairs() -> tuple[np.ndarray, np.ndarray]:
    idx = {c: i for i, c in enumerate(SCALP_CHANNELS)}
    a = [idx[ch[i]] for ch in CHAINS.values() for i in range(4)]
    b = [idx[ch[i + 1]] for ch in CHAINS.values() for i in range(4)]
    return np.array(a), np.array(b)


def kaggle_spectrogram(rec: np.ndarray, fs: int = SPEC_FS) -> tuple[np.ndarray, np.ndarray]:
    """rec: (n, 19) scalp channels at `fs` (50 Hz: NFFT 256; 200 Hz: NFFT 1024), covering 2*rows seconds.
    Returns (time int64 odd seconds, values (rows, 400) float32 rounded to 0.01)."""
    nfft = NFFT * fs // SPEC_FS
    a, b = _pairs()
    bip = np.ascontiguousarray((rec[:, a] - rec[:, b]).T, dtype=np.float32)  # (16, n): frames contiguous
    n_rows = rec.shape[0] // (SPEC_STEP_S * fs)
    half = nfft // 2
    padded = np.pad(bip, ((0, 0), (half, half)), mode="reflect")
    # Row r is centred at second 2r+1, i.e. sample (2r+1)*fs of the recording.
    frames = np.lib.stride_tricks.sliding_window_view(padded, nfft, axis=1)  # (16, n+1, nfft)
    frames = frames[:, fs: fs + n_rows * SPEC_STEP_S * fs: SPEC_STEP_S * fs]
    win = np.hanning(nfft + 1)[:-1].astype(np.float32)
    z = scipy.fft.rfft(frames * win, axis=-1)[..., BINS]  # float32 FFT: half the cost
    spec = z.real ** 2 + z.imag ** 2  # (16, rows, 100)
    spec *= 2 * KAGGLE_SCALE / (fs * float((win ** 2).sum()))  # one-sided density, Kaggle scale
    spec = spec.reshape(4, 4, n_rows, -1).mean(axis=1)  # (chain, rows, 100)
    values = spec.transpose(1, 0, 2).reshape(n_rows, -1)
    time = np.arange(n_rows, dtype=np.int64) * SPEC_STEP_S + 1
    return time, np.round(values, 2).astype(np.float32)
