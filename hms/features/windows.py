"""Loading the windows of a chunk of samples as batched arrays (the only file I/O of the features)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from hms.data.layout import DataDir, Split
from hms.data.read import read_eeg, read_spectrogram
from hms.data.windows import eeg_window, spectrogram_window


def sample_label(split: str, row: Mapping[str, Any]) -> str:
    """How warnings name a window: split, eeg_id and sample_id."""
    return f"{split} eeg_id {int(row['eeg_id'])} (sample_id {int(row['sample_id'])})"


def load_eeg_batch(data: DataDir, split: Split, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """(batch, 20, 10000) float32 raw µV windows, channels in file order, NaNs kept."""
    cache: dict[int, np.ndarray] = {}  # row-level samples of one eeg share its file
    out = []
    for row in rows:
        eeg_id = int(row["eeg_id"])
        path = data.eeg(split, eeg_id)
        if eeg_id not in cache:
            cache = {eeg_id: read_eeg(path)}
        out.append(eeg_window(cache[eeg_id], row["eeg_offset"], path).T)
    return np.ascontiguousarray(np.stack(out), dtype=np.float32)


def load_spec_batch(data: DataDir, split: Split, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """(batch, 300, 400) float32 Kaggle spectrogram windows (LL, RL, LP, RP x 100 freqs), NaNs kept."""
    cache: dict[int, Any] = {}
    out = []
    for row in rows:
        spec_id = int(row["spectrogram_id"])
        path = data.spectrogram(split, spec_id)
        if spec_id not in cache:
            cache = {spec_id: read_spectrogram(path)}
        out.append(spectrogram_window(cache[spec_id], row["spec_offset"], path))
    return np.stack(out).astype(np.float32, copy=False)
