"""Reading one EEG or spectrogram file through the contract checks."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from hms.constants import EEG_CHANNELS, SPEC_COLUMNS
from hms.data.contract import check_eeg_schema, check_spectrogram_schema, parquet_file


def read_eeg(path: str | os.PathLike) -> np.ndarray:
    """(n_samples, 20) float32 in EEG_CHANNELS order, microvolts; NaNs kept as they are."""
    pf = parquet_file(path)
    check_eeg_schema(pf, path)
    table = pf.read(columns=list(EEG_CHANNELS))
    return np.stack([table.column(c).to_numpy(zero_copy_only=False) for c in EEG_CHANNELS], axis=1).astype(np.float32, copy=False)


def eeg_length(path: str | os.PathLike) -> int:
    """Number of samples, from the parquet footer alone (no data read)."""
    pf = parquet_file(path)
    check_eeg_schema(pf, path)
    return pf.metadata.num_rows


@dataclass(frozen=True)
class Spectrogram:
    time: np.ndarray  # int64 seconds (odd seconds in Kaggle files)
    values: np.ndarray  # (n_rows, 400) float32: LL, RL, LP, RP x 100 frequencies; NaN rows kept


def read_spectrogram(path: str | os.PathLike) -> Spectrogram:
    pf = parquet_file(path)
    check_spectrogram_schema(pf, path)
    table = pf.read()
    time = table.column("time").to_numpy().astype(np.int64)
    values = np.stack([table.column(c).to_numpy(zero_copy_only=False) for c in SPEC_COLUMNS[1:]], axis=1)
    return Spectrogram(time=time, values=values.astype(np.float32, copy=False))


def spectrogram_times(path: str | os.PathLike) -> np.ndarray:
    """Only the `time` column, for cheap offset checks."""
    pf = parquet_file(path)
    check_spectrogram_schema(pf, path)
    return pf.read(columns=["time"]).column("time").to_numpy().astype(np.int64)
