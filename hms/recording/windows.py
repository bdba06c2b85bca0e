"""Sliding windows over a recording, streamed in chunks with shared work.

Window i (step s seconds) labels the 10 s [t_i, t_i + 10) with t_i = 20 + i * s, exactly as a
Kaggle sample labels the central 10 s of its contexts:
- EEG context: the 50 s [t_i - 20, t_i + 30) (samples round(i * s * 200) + [0, 10000));
- spectrogram context: the 300 rows of the recording's Kaggle-style spectrogram whose time
  (odd seconds 1, 3, ... from the recording start, as in the Kaggle files) lies in
  [t_i - 295, t_i + 305), i.e. 600 s centred on the labelled 10 s.

Edge rule. EEG: only windows whose whole 50 s context lies inside the recording are scored (the
first labelled 10 s starts at 20 s, the last ends 20 s before the end; a recording shorter than
50 s is an error). Spectrogram: rows outside the recording are NaN, as the real Kaggle files have
NaN rows where data is missing; the features treat them exactly like those (the K panels' NaN
cells become the window mean, the tabular statistics skip them).

Shared work. The recording is read in chunks of `chunk` windows plus FILTER_MARGIN_S of context
on each side, and `hms.signal.preprocess` (NaN handling, bipolar montage, zero-phase band-pass,
clipping) runs once per chunk and signal config, as does the waves' resampling; the windows are
strided views into the results, and the second half of each feature function runs on them
(hms.recording.shared). What differs from `hms predict` is only the stretch each step sees: there
each 50 s window is preprocessed on its own (the zero-phase filter has transients at its ends, and
a NaN run cut by the window edge is judged by its cut length), here a chunk of the recording is;
docs/scan.md gives the measured effect, and `exact` mode reproduces `hms predict` window by window.
The Kaggle-style spectrogram rows are computed once each from the unfiltered signal (decimated to
50 Hz, as the synthetic data does) by hms.synth.spectrogram.kaggle_spectrogram, and kept only
while some window still needs them.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

import numpy as np
from scipy import signal as sps

from hms.constants import CENTER_START, EEG_WINDOW, FS, SCALP_CHANNELS, SPEC_COLUMNS, SPEC_STEP_S, SPEC_WINDOW_ROWS
from hms.errors import ConfigError
from hms.recording.read import Recording
from hms.recording.timing import StepTimer
from hms.signal.filters import resample
from hms.signal.montage import MONTAGES, split_montages
from hms.signal.preprocess import SignalConfig, preprocess
from hms.synth.spectrogram import SPEC_FS, kaggle_spectrogram

if TYPE_CHECKING:
    from hms.features.mosaic import MosaicConfig

CONTEXT_BEFORE_S = CENTER_START / FS  # 20 s of EEG context before the labelled 10 s
SPEC_BEFORE_S = 295.0  # spectrogram rows from t - 295 s to t + 305 s: 600 s centred on [t, t + 10)
FILTER_MARGIN_S = 60  # context filtered on each side of a chunk; the band-pass transient has died out by then
PERIODOGRAM_BLOCK = 128  # Welch segments computed at a time per chunk
SPEC_ROW_MARGIN = 2  # rows computed and dropped on each side of a block of spectrogram rows (5.12 s FFT window)
N_SPEC_VALUES = len(SPEC_COLUMNS) - 1
STRIP_BINS = 50  # frequency bins of the compressed spectrogram kept for the timeline


@dataclass(frozen=True)
class WindowGrid:
    n_samples: int  # recording length at 200 Hz
    step_s: float

    def __post_init__(self) -> None:
        hop = self.step_s * FS
        if self.step_s <= 0 or abs(hop - round(hop)) > 1e-6:
            raise ConfigError(f"--step must be a positive multiple of {1 / FS:g} s, got {self.step_s}")
        if self.n_samples < EEG_WINDOW:
            raise ValueError(f"the recording lasts {self.n_samples / FS:.1f} s, shorter than the 50 s EEG context of one window")

    @property
    def hop(self) -> int:
        return int(round(self.step_s * FS))

    @property
    def n_windows(self) -> int:
        return (self.n_samples - EEG_WINDOW) // self.hop + 1

    def eeg_start(self, i: np.ndarray) -> np.ndarray:
        """First sample of each window's 50 s EEG context."""
        return np.asarray(i, dtype=np.int64) * self.hop

    def label_start_s(self, i: np.ndarray) -> np.ndarray:
        """Start (s) of each window's labelled 10 s."""
        return self.eeg_start(i) / FS + CONTEXT_BEFORE_S

    def spec_first_row(self, i: np.ndarray) -> np.ndarray:
        """Index of the first of each window's 300 spectrogram rows (row r is at second 2r + 1)."""
        lo = self.label_start_s(i) - SPEC_BEFORE_S
        return np.ceil((lo - 1) / SPEC_STEP_S - 1e-9).astype(np.int64)


class SpectrogramRows:
    """The recording's Kaggle-style spectrogram, computed row block by row block as the scan moves
    forward and dropped once no later window needs it. Also keeps a compressed copy (left and right
    hemisphere, STRIP_BINS frequency bins, ln power) for the timeline: 400 bytes per 2 s."""

    def __init__(self, rec: Recording, timer: StepTimer) -> None:
        self.rec, self.timer = rec, timer
        self.n_rows = rec.n // (SPEC_STEP_S * FS)
        self.lo = 0  # rows [lo, hi) are held in self.values
        self.values = np.zeros((0, N_SPEC_VALUES), np.float32)
        self.strip: list[np.ndarray] = []

    @property
    def hi(self) -> int:
        return self.lo + len(self.values)

    def _compute(self, ra: int, rb: int) -> np.ndarray:
        """Rows [ra, rb) from the raw signal of seconds [2 ra - 4, 2 rb + 4) (clipped to the recording)."""
        r0 = max(0, ra - SPEC_ROW_MARGIN)
        r1 = min(self.n_rows, rb + SPEC_ROW_MARGIN)
        with self.timer("read"):
            x = self.rec.read(r0 * SPEC_STEP_S * FS, r1 * SPEC_STEP_S * FS)[: len(SCALP_CHANNELS)]
        with self.timer("spectrogram"):
            x50 = sps.resample_poly(x, 1, FS // SPEC_FS, axis=-1).astype(np.float32)
            _, values = kaggle_spectrogram(x50.T, SPEC_FS)
        return values[ra - r0: rb - r0]

    def ensure(self, lo: int, hi: int) -> None:
        """Hold rows [lo, hi) (clipped to the recording); rows before lo are dropped. Rows are
        computed in order, none skipped (the compressed copy covers the whole recording)."""
        lo, hi = max(lo, 0), min(hi, self.n_rows)
        if hi > self.hi:
            new = self._compute(self.hi, hi)
            self._keep_strip(new)
            self.values = np.concatenate([self.values, new]) if len(self.values) else new
        if lo > self.lo:
            drop = min(lo, self.hi) - self.lo
            self.values = self.values[drop:]
            self.lo += drop

    def _keep_strip(self, rows: np.ndarray) -> None:
        with self.timer("spectrogram"):
            x = rows.reshape(len(rows), 4, -1)  # LL, RL, LP, RP x 100 freqs
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows (masked chains) stay NaN
                lr = np.stack([np.nanmean(x[:, [0, 2]], axis=1), np.nanmean(x[:, [1, 3]], axis=1)], axis=1)
                lr = lr.reshape(len(rows), 2, STRIP_BINS, -1).mean(axis=-1)
            self.strip.append(np.log(np.clip(lr, 1e-3, None)).astype(np.float32))

    def windows(self, first_rows: np.ndarray) -> np.ndarray:
        """(B, 300, 400) windows starting at `first_rows`; rows outside the recording are NaN."""
        need_lo, need_hi = int(first_rows.min()), int(first_rows.max()) + SPEC_WINDOW_ROWS
        self.ensure(need_lo, need_hi)
        with self.timer("spectrogram"):
            span = np.full((need_hi - need_lo, N_SPEC_VALUES), np.nan, np.float32)
            a = max(self.lo, need_lo)
            b = min(self.hi, need_hi)
            if b > a:
                span[a - need_lo: b - need_lo] = self.values[a - self.lo: b - self.lo]
            idx = (first_rows - need_lo)[:, None] + np.arange(SPEC_WINDOW_ROWS)[None, :]
            return span[idx]

    def finish(self) -> np.ndarray:
        """Compute any rows no window needed (so the timeline covers the whole recording) and return
        the compressed spectrogram: (n_rows, 2 hemispheres, STRIP_BINS) ln power."""
        self.ensure(self.hi, self.n_rows)
        return np.concatenate(self.strip) if self.strip else np.zeros((0, 2, STRIP_BINS), np.float32)


@dataclass
class Chunk:
    """A stretch of the recording and what the windows inside it share, computed on first use:
    per signal config the preprocessed signal in both montages (hms.signal.preprocess on the whole
    stretch; the mosaic's E panels and the tabular features read the montages their configs name)
    and its resampled copies for the waves."""

    start: int  # first sample (200 Hz) of `raw` in the recording
    raw: np.ndarray  # (20, n) µV, NaNs as in the file
    timer: StepTimer
    _signals: dict[tuple, np.ndarray] = dataclasses.field(default_factory=dict)
    _resampled: dict[tuple, np.ndarray] = dataclasses.field(default_factory=dict)
    _frames: dict[tuple, tuple[np.ndarray, int]] = dataclasses.field(default_factory=dict)
    _periodograms: dict[tuple, np.ndarray] = dataclasses.field(default_factory=dict)

    def signals(self, sig: SignalConfig) -> np.ndarray:
        """(36, n) preprocessed (NaN handling, montages, filters, clipping) as `sig` says, in the
        waves' channel order (bipolar, then average reference)."""
        key = signal_key(sig)
        if key not in self._signals:
            with self.timer("filter"):
                self._signals[key] = preprocess(self.raw[None], sig, montages=MONTAGES)[0]
        return self._signals[key]

    def montage(self, sig: SignalConfig, name: str) -> np.ndarray:
        """(18, n) the channels of montage `name` in signals(sig) (a view)."""
        return split_montages(self.signals(sig), MONTAGES)[name]

    def resampled(self, sig: SignalConfig, fs_out: int) -> np.ndarray:
        """signals(sig) resampled to fs_out (anti-aliased, hms.signal.filters.resample)."""
        key = (signal_key(sig), fs_out)
        if key not in self._resampled:
            x = self.signals(sig)
            with self.timer("filter"):
                self._resampled[key] = resample(x, FS, fs_out)
        return self._resampled[key]

    def frames(self, sig: SignalConfig, cfg: "MosaicConfig", grid: int) -> tuple[np.ndarray, int]:
        """Chain power frames of the E panels' montage on the recording's frame grid (hms.recording.shared)."""
        from hms.recording.shared import chain_power_frames

        key = (signal_key(sig), repr(cfg), grid)
        if key not in self._frames:
            x = self.montage(sig, cfg.montage)
            with self.timer("spectrogram frames"):
                self._frames[key] = chain_power_frames(x, self.start, cfg, grid)
        return self._frames[key]

    def periodograms(self, sig: SignalConfig, montage: str, phase: int) -> np.ndarray:
        """Welch segment periodograms (hms.features.tabular.segment_periodograms) of montage `montage`
        of the stretch, for the segments starting at sample `phase` and every 1 s after it: the
        tabular EEG spectra of all the windows whose segments fall on that grid."""
        from hms.features.tabular import WELCH_HOP, WELCH_SEG, segment_periodograms, welch_segments

        key = (signal_key(sig), montage, phase)
        if key not in self._periodograms:
            x = self.montage(sig, montage)[:, phase:]
            n = welch_segments(x.shape[-1])
            out = np.empty((x.shape[0], n, WELCH_SEG // 2 + 1))
            with self.timer("welch segments"):
                for s in range(0, n, PERIODOGRAM_BLOCK):  # in blocks: the FFT's temporaries stay small
                    e = min(n, s + PERIODOGRAM_BLOCK)
                    out[:, s:e] = segment_periodograms(x[:, s * WELCH_HOP: (e - 1) * WELCH_HOP + WELCH_SEG])
            self._periodograms[key] = out
        return self._periodograms[key]


def window_views(x: np.ndarray, first: int, count: int, hop: int, length: int) -> np.ndarray:
    """(count, channels, length) read-only view of windows of (channels, n) `x` starting at
    `first` and every `hop` samples."""
    if first < 0 or first + (count - 1) * hop + length > x.shape[-1]:
        raise ValueError(f"windows [{first}, {first + (count - 1) * hop + length}) outside a stretch of {x.shape[-1]} samples")
    return np.lib.stride_tricks.as_strided(x[:, first:], shape=(count, x.shape[0], length),
                                           strides=(x.strides[1] * hop, x.strides[0], x.strides[1]), writeable=False)


@dataclass
class WindowBatch:
    index: np.ndarray  # window numbers
    label_start_s: np.ndarray  # start of each window's labelled 10 s
    chunk: Chunk
    offsets: np.ndarray  # first sample of each 50 s EEG context within chunk.raw
    hop: int  # samples between consecutive windows
    spec: np.ndarray  # (B, 300, 400) Kaggle-style spectrogram windows

    def raw(self) -> np.ndarray:
        """(B, 20, 10000) raw µV windows (a view)."""
        return window_views(self.chunk.raw, int(self.offsets[0]), len(self.offsets), self.hop, EEG_WINDOW)

    def signals(self, sig: SignalConfig) -> np.ndarray:
        """(B, 36, 10000) preprocessed windows in both montages (a view)."""
        return window_views(self.chunk.signals(sig), int(self.offsets[0]), len(self.offsets), self.hop, EEG_WINDOW)

    def resampled(self, sig: SignalConfig, fs_out: int) -> np.ndarray | None:
        """(B, 36, 50 s x fs_out) views of the resampled signals (both montages); None when the windows do
        not start on whole output samples (the caller then resamples each window)."""
        if (int(self.offsets[0]) * fs_out) % FS or (self.hop * fs_out) % FS:
            return None
        x = self.chunk.resampled(sig, fs_out)
        return window_views(x, int(self.offsets[0]) * fs_out // FS, len(self.offsets), self.hop * fs_out // FS,
                            EEG_WINDOW * fs_out // FS)


def signal_key(sig: SignalConfig) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in dataclasses.asdict(sig).items()))


class WindowStream:
    """Windows in order, `batch` at a time, read `chunk` windows at a time with FILTER_MARGIN_S of
    context on both sides (none with `exact`, which filters each window on its own). After the
    iteration, `strip` holds the compressed spectrogram of the whole recording."""

    def __init__(self, rec: Recording, grid: WindowGrid, timer: StepTimer, batch: int = 64, chunk: int = 512,
                 exact: bool = False) -> None:
        self.rec, self.grid, self.timer, self.exact = rec, grid, timer, exact
        self.batch = batch
        self.chunk = max(batch, chunk // batch * batch)
        self.strip: np.ndarray | None = None

    def __iter__(self) -> Iterator[WindowBatch]:
        grid, rec = self.grid, self.rec
        spec_rows = SpectrogramRows(rec, self.timer)
        margin = 0 if self.exact else FILTER_MARGIN_S * FS
        for c0 in range(0, grid.n_windows, self.chunk):
            idx = np.arange(c0, min(c0 + self.chunk, grid.n_windows))
            starts = grid.eeg_start(idx)
            ra = max(0, int(starts[0]) - margin)
            rb = min(rec.n, int(starts[-1]) + EEG_WINDOW + margin)
            with self.timer("read"):
                chunk = Chunk(ra, rec.read(ra, rb), self.timer)
            for b0 in range(0, len(idx), self.batch):
                bi = idx[b0: b0 + self.batch]
                yield WindowBatch(bi, grid.label_start_s(bi), chunk, starts[b0: b0 + self.batch] - ra, grid.hop,
                                  spec_rows.windows(grid.spec_first_row(bi)))
        self.strip = spec_rows.finish()


def spectrogram_strip_times(n_rows: int) -> np.ndarray:
    """Seconds of the compressed spectrogram's rows (odd seconds, as the Kaggle rows)."""
    return np.arange(n_rows) * SPEC_STEP_S + 1.0

