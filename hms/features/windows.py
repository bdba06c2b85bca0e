"""Loading the windows of a chunk of samples as batched arrays (the only file I/O of the features).

Each process keeps the last EEG file and the last spectrogram file it decoded: on the real data
an eeg has up to 743 labelled rows (93 chunks in per-row mode) and a spectrogram up to 107 eegs,
and a 3,400 s EEG file costs about 54 MB and a fraction of a second to decode, so re-reading it
for every chunk made the per-row feature stages grow with rows x file length. Memory stays
bounded: one file of each kind per process."""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping, Sequence, TypeVar

import numpy as np

from hms.data.layout import DataDir, Split
from hms.constants import EEG_CHANNELS, EEG_WINDOW, SPEC_COLUMNS, SPEC_WINDOW_ROWS
from hms.data.read import Spectrogram, read_eeg, read_spectrogram
from hms.data.windows import eeg_window, spectrogram_window


T = TypeVar("T")
_LAST: dict[str, tuple[tuple[str, int, int, int], Any]] = {}


def _cached(kind: str, path: os.PathLike, read: Callable[[os.PathLike], T]) -> T:
    """read(path), reusing the previous result when `path` is the last file of this kind read by
    this process and is unchanged on disk (same inode, size and modification time)."""
    try:
        st = os.stat(path)
        key = (os.fspath(path), st.st_ino, st.st_size, st.st_mtime_ns)
    except OSError:
        return read(path)  # the reader raises the contract's clear error
    hit = _LAST.get(kind)
    if hit is not None and hit[0] == key:
        return hit[1]
    _LAST.pop(kind, None)  # free the previous file before decoding the next one
    value = read(path)
    _LAST[kind] = (key, value)
    return value


def clear_cache() -> None:
    """Forget the cached files (tests; long-lived processes that are done with features)."""
    _LAST.clear()


def sample_label(split: str, row: Mapping[str, Any]) -> str:
    """How warnings name a window: split, eeg_id and sample_id."""
    return f"{split} eeg_id {int(row['eeg_id'])} (sample_id {int(row['sample_id'])})"


def load_eeg_batch(data: DataDir, split: Split, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """(batch, 20, 10000) float32 raw µV windows, channels in file order, NaNs kept.

    A file is decoded once for consecutive samples of it, also across chunks (chunks are sorted
    by eeg); only the last file is kept, so memory holds one file whatever its length."""
    out = np.empty((len(rows), len(EEG_CHANNELS), EEG_WINDOW), dtype=np.float32)
    for i, row in enumerate(rows):
        path = data.eeg(split, int(row["eeg_id"]))
        eeg = _cached("eeg", path, read_eeg)
        out[i] = eeg_window(eeg, row["eeg_offset"], path).T  # column-major file: a cheap copy
    return out


def load_eeg_span(data: DataDir, split: Split, eeg_id: int, start: int, stop: int,
                  last_offset: float) -> np.ndarray:
    """(20, stop - start) float32 raw µV samples [start, stop) of an EEG file, NaNs kept; the file
    must hold the window at `last_offset` (the span's last window), else the window's DataError."""
    path = data.eeg(split, int(eeg_id))
    eeg = _cached("eeg", path, read_eeg)
    eeg_window(eeg, last_offset, path)  # raises the clear out-of-range error
    return np.array(eeg[start:stop].T, dtype=np.float32, order="C")  # a copy: the cached file stays intact


def load_spec_batch(data: DataDir, split: Split, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """(batch, 300, 400) float32 Kaggle spectrogram windows (LL, RL, LP, RP x 100 freqs), NaNs kept.

    A file is decoded once for consecutive samples of it, also across chunks (chunks are sorted by
    spectrogram_id, and eegs of one recording share a spectrogram file); only the last is kept."""
    out = np.empty((len(rows), SPEC_WINDOW_ROWS, len(SPEC_COLUMNS) - 1), dtype=np.float32)
    for i, row in enumerate(rows):
        path = data.spectrogram(split, int(row["spectrogram_id"]))
        spec: Spectrogram = _cached("spectrogram", path, read_spectrogram)
        out[i] = spectrogram_window(spec, row["spec_offset"], path)
    return out
