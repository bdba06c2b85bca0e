"""Reading one EEG or spectrogram file through the contract checks.

The feature stages read tens of thousands of these files, so the data readers are lean: each
file is read from disk once (one `read`, then the magic-byte check and the parquet footer are
served from memory), decoded by pyarrow without its thread pool (the feature workers already
use every core), and all its float columns are converted to one numpy array in a single call.
Every check of `hms.data.contract` still applies, with the same errors.

Spectrogram values that cannot be power (negative, ±inf, absurdly large: hms.signal.artifacts)
become NaN here, with a warning naming the file, so every consumer (features, training,
predict, plots) sees them as the missing values they are. EEG values are handled in the one
preprocessing path (hms.signal.preprocess), which sees every window before filtering.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hms.constants import EEG_CHANNELS, SPEC_COLUMNS, SPEC_REGIONS
from hms.data.contract import (
    PARQUET_MAGIC, check_eeg_schema, check_spectrogram_schema, check_spectrogram_time, parquet_file,
)
from hms.data.errors import DataError
from hms.signal.artifacts import mask_spectrogram_artifacts


def _open(path: str | os.PathLike) -> pq.ParquetFile:
    """The file as a ParquetFile over its bytes in memory (one open and one read of the file).

    Anything wrong (missing, not parquet, unreadable) is reported by `contract.parquet_file`, so
    the errors are exactly the contract's."""
    try:
        buf = Path(path).read_bytes()
    except OSError:
        parquet_file(path)  # raises the contract's "file not found" (or a clear error)
        raise
    if len(buf) < 8 or buf[:4] != PARQUET_MAGIC or buf[-4:] != PARQUET_MAGIC:
        parquet_file(path)  # raises "not a parquet file (no PAR1 magic bytes)"
    try:
        # pre_buffer only helps remote or slow storage; the bytes are in memory already.
        return pq.ParquetFile(pa.BufferReader(buf), pre_buffer=False)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(path, f"unreadable parquet: {exc}") from exc


# The schemas of the Kaggle files. A file whose schema equals one of these passes the contract
# checks by construction, so they are skipped (one C++ comparison instead of a Python loop over
# 401 columns); any other schema goes through the contract checks, which accept or explain it.
_EEG_SCHEMA = pa.schema([(c, pa.float32()) for c in EEG_CHANNELS])
_SPEC_SCHEMAS = tuple(pa.schema([("time", t)] + [(c, pa.float32()) for c in SPEC_COLUMNS[1:]])
                      for t in (pa.int64(), pa.int32(), pa.int16()))


def _float_matrix(table: pa.Table, row_major: bool) -> np.ndarray:
    """(rows, columns) float32 of an all-float table; nulls -> NaN. One conversion for all columns
    (mixed float widths are widened, then rounded to float32 as a per-column astype would)."""
    if table.num_rows:
        try:
            batch = table.combine_chunks().to_batches()[0]
            return batch.to_tensor(null_to_nan=True, row_major=row_major).to_numpy().astype(np.float32, copy=False)
        except pa.ArrowNotImplementedError:  # e.g. float16 columns: no tensor conversion
            pass
    out = np.empty((table.num_rows, table.num_columns), dtype=np.float32, order="C" if row_major else "F")
    for i in range(table.num_columns):
        out[:, i] = table.column(i).to_numpy(zero_copy_only=False)
    return out


def read_eeg(path: str | os.PathLike) -> np.ndarray:
    """(n_samples, 20) float32 in EEG_CHANNELS order, microvolts; NaNs kept as they are.

    The array is column-major (Fortran order): `read_eeg(p).T` is a C-contiguous (20, n) array,
    the layout the signal code works in."""
    pf = _open(path)
    if not pf.schema_arrow.equals(_EEG_SCHEMA):
        check_eeg_schema(pf, path)  # also fixes the column order to EEG_CHANNELS
    return _float_matrix(pf.read(use_threads=False), row_major=False)


def eeg_length(path: str | os.PathLike) -> int:
    """Number of samples, from the parquet footer alone (no data read)."""
    pf = parquet_file(path)
    check_eeg_schema(pf, path)
    return pf.metadata.num_rows


@dataclass(frozen=True)
class Spectrogram:
    time: np.ndarray  # int64 seconds (odd seconds in Kaggle files)
    values: np.ndarray  # (n_rows, 400) float32: LL, RL, LP, RP x 100 frequencies; NaN rows kept


def read_spectrogram(path: str | os.PathLike, mask_artifacts: bool = True) -> Spectrogram:
    """The file's time (checked strictly increasing) and values; impossible values -> NaN with a
    warning unless `mask_artifacts` is False (`hms validate` counts them itself)."""
    pf = _open(path)
    schema = pf.schema_arrow
    if not any(schema.equals(s) for s in _SPEC_SCHEMAS):
        check_spectrogram_schema(pf, path)  # also fixes the column order to SPEC_COLUMNS
    table = pf.read(use_threads=False)
    time = _time_column(table.column(0), path)
    values = _float_matrix(table.select(range(1, len(SPEC_COLUMNS))), row_major=True)
    if mask_artifacts:
        values = mask_spectrogram_artifacts(values, path, SPEC_REGIONS)
    return Spectrogram(time=time, values=values)


def spectrogram_times(path: str | os.PathLike) -> np.ndarray:
    """Only the `time` column (checked strictly increasing), for cheap offset checks."""
    pf = parquet_file(path)
    check_spectrogram_schema(pf, path)
    return _time_column(pf.read(columns=["time"]).column("time"), path)


def _time_column(column: pa.ChunkedArray, path: str | os.PathLike) -> np.ndarray:
    """`time` as int64, checked: no empty cell, strictly increasing."""
    if column.null_count:
        row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        raise DataError(path, "spectrogram time has an empty cell", row=row, column="time",
                        expected="an integer number of seconds", found="null")
    time = column.to_numpy().astype(np.int64)
    check_spectrogram_time(time, path)
    return time


def spectrogram_values(path: str | os.PathLike) -> np.ndarray:
    """(n_rows, 400) float32 values only, column-major (no transpose), unmasked: for scanning
    every value (`hms validate`). The schema is checked; `time` is not read."""
    pf = _open(path)
    if not any(pf.schema_arrow.equals(s) for s in _SPEC_SCHEMAS):
        check_spectrogram_schema(pf, path)
    return _float_matrix(pf.read(columns=list(SPEC_COLUMNS[1:]), use_threads=False), row_major=False)
