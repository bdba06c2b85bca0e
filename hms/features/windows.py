"""Loading the windows of a chunk of samples as batched arrays (the only file I/O of the features)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from hms.data.layout import DataDir, Split
from hms.constants import EEG_CHANNELS, EEG_WINDOW, SPEC_COLUMNS, SPEC_WINDOW_ROWS
from hms.data.read import Spectrogram, read_eeg, read_spectrogram
from hms.data.windows import eeg_window, spectrogram_window


def sample_label(split: str, row: Mapping[str, Any]) -> str:
    """How warnings name a window: split, eeg_id and sample_id."""
    return f"{split} eeg_id {int(row['eeg_id'])} (sample_id {int(row['sample_id'])})"


def load_eeg_batch(data: DataDir, split: Split, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """(batch, 20, 10000) float32 raw µV windows, channels in file order, NaNs kept.

    A file is read once for consecutive samples of it (chunks are sorted by eeg); only the last one
    is kept, so memory holds one file whatever its length."""
    files: dict[int, np.ndarray] = {}
    out = np.empty((len(rows), len(EEG_CHANNELS), EEG_WINDOW), dtype=np.float32)
    for i, row in enumerate(rows):
        eeg_id = int(row["eeg_id"])
        path = data.eeg(split, eeg_id)
        if eeg_id not in files:
            files = {eeg_id: read_eeg(path)}
        out[i] = eeg_window(files[eeg_id], row["eeg_offset"], path).T  # column-major file: a cheap copy
    return out


def load_spec_batch(data: DataDir, split: Split, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """(batch, 300, 400) float32 Kaggle spectrogram windows (LL, RL, LP, RP x 100 freqs), NaNs kept.

    A file is read once for consecutive samples of it (chunks are sorted by spectrogram_id, and
    eegs of one recording share a spectrogram file); only the last one is kept."""
    files: dict[int, Spectrogram] = {}
    out = np.empty((len(rows), SPEC_WINDOW_ROWS, len(SPEC_COLUMNS) - 1), dtype=np.float32)
    for i, row in enumerate(rows):
        spec_id = int(row["spectrogram_id"])
        path = data.spectrogram(split, spec_id)
        if spec_id not in files:
            files = {spec_id: read_spectrogram(path)}
        out[i] = spectrogram_window(files[spec_id], row["spec_offset"], path)
    return out
