"""The labelled windows: 50 s of EEG (experts looked at its central 10 s) and 600 s of
Kaggle spectrogram. A train row's window starts at its offsets; a test file is its own window.
NaN samples and NaN rows are kept so that callers see them and decide what to do."""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from hms.constants import CENTER_START, CENTER_STOP, EEG_WINDOW, FS, SPEC_WINDOW_ROWS, SPEC_WINDOW_S
from hms.data.errors import DataError
from hms.data.layout import DataDir, Split
from hms.data.read import Spectrogram, read_eeg, read_spectrogram

log = logging.getLogger(__name__)


def is_whole_file(offset_s: float | None) -> bool:
    return offset_s is None or (isinstance(offset_s, float) and math.isnan(offset_s))


def eeg_window(eeg: np.ndarray, offset_s: float | None, path: str | os.PathLike = "<eeg>") -> np.ndarray:
    """Samples [offset*200, offset*200 + 10000) of a (n, channels) array; offset None/NaN = whole file."""
    n = eeg.shape[0]
    if is_whole_file(offset_s):
        if n < EEG_WINDOW:
            raise DataError(path, "EEG shorter than its 50 s window", expected=f">= {EEG_WINDOW} samples", found=n)
        if n > EEG_WINDOW:
            log.warning("%s: test EEG has %d samples, more than 50 s; using its central 50 s", path, n)
        start = (n - EEG_WINDOW) // 2
        return eeg[start:start + EEG_WINDOW]
    start = int(round(float(offset_s) * FS))
    if start < 0 or start + EEG_WINDOW > n:
        raise DataError(path, f"EEG shorter than its window at offset {offset_s} s",
                        column="eeg_label_offset_seconds",
                        expected=f">= {start + EEG_WINDOW} samples", found=n,
                        hint="the offset points past the end of the EEG file")
    return eeg[start:start + EEG_WINDOW]


def central(window: np.ndarray, axis: int = 0) -> np.ndarray:
    """The 10 s the experts labelled (seconds 20..30 of a 50 s window)."""
    return np.take(window, np.arange(CENTER_START, CENTER_STOP), axis=axis)


def spectrogram_window(spec: Spectrogram, offset_s: float | None, path: str | os.PathLike = "<spectrogram>") -> np.ndarray:
    """(300, 400) rows whose `time` lies in [offset, offset+600); offset None/NaN = whole file."""
    n = len(spec.time)
    if is_whole_file(offset_s):
        if n < SPEC_WINDOW_ROWS:
            raise DataError(path, "spectrogram shorter than its 600 s window", expected=f">= {SPEC_WINDOW_ROWS} rows", found=n)
        if n > SPEC_WINDOW_ROWS:
            log.warning("%s: test spectrogram has %d rows, more than 600 s; using its central 600 s", path, n)
        start = (n - SPEC_WINDOW_ROWS) // 2
        return spec.values[start:start + SPEC_WINDOW_ROWS]
    lo = float(offset_s)
    idx = np.flatnonzero((spec.time >= lo) & (spec.time < lo + SPEC_WINDOW_S))
    if len(idx) != SPEC_WINDOW_ROWS:
        raise DataError(path, f"spectrogram window at offset {offset_s} s is out of range",
                        column="spectrogram_label_offset_seconds",
                        expected=f"{SPEC_WINDOW_ROWS} rows with time in [{lo:g}, {lo + SPEC_WINDOW_S:g})",
                        found=f"{len(idx)} rows (file time spans {spec.time.min() if n else '-'}..{spec.time.max() if n else '-'})")
    return spec.values[idx[0]:idx[-1] + 1]


@dataclass(frozen=True)
class Window:
    eeg: np.ndarray  # (10000, 20) float32, NaNs kept
    spec: np.ndarray  # (300, 400) float32, NaN rows kept


def load_window(data: DataDir, split: Split, sample: Mapping[str, Any]) -> Window:
    """The EEG and spectrogram windows of one sample of a prepared table (see hms.data.prepare)."""
    eeg_path = data.eeg(split, sample["eeg_id"])
    spec_path = data.spectrogram(split, sample["spectrogram_id"])
    eeg = eeg_window(read_eeg(eeg_path), sample["eeg_offset"], eeg_path)
    spec = spectrogram_window(read_spectrogram(spec_path), sample["spec_offset"], spec_path)
    return Window(eeg=eeg, spec=spec)
