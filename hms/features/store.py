"""On-disk feature caches, shared by the feature stages (writers) and the models (readers).

features/<kind>/
  config.json                  the feature params used (copied into each model dir for `hms predict`)
  <split>.npy + <split>_index.parquet   arrays (mosaic, waves): float16, row i <-> sample_id i of the index
  <split>.parquet              tables (tabular): sample_id + one float32 column per feature
  manifest.csv                 tabular only: column, description
Row order = the prepared table's order (sorted by sample_id); readers check the ids.

Tracks (waves, when several samples share an eeg, as in per-row mode): `<split>.npy` is
(total_samples, channels), the eegs' labelled spans one after another, and the index has a
`start` column: sample i is rows [start_i, start_i + length) of it, transposed; `length` is in
the index's parquet metadata. Overlapping windows of one eeg are stored once. `open_array`
returns a TrackArray that cuts the windows on access, so readers see (n, channels, length) either way.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from hms.io import atomic_path, write_json, write_parquet


def array_path(root: Path, split: str) -> Path:
    return Path(root) / f"{split}.npy"


def index_path(root: Path, split: str) -> Path:
    return Path(root) / f"{split}_index.parquet"


def table_path(root: Path, split: str) -> Path:
    return Path(root) / f"{split}.parquet"


TRACK_LENGTH_KEY = b"hms_track_length"


class TrackArray:
    """(n, channels, length) view of a tracks file: item i is rows [starts[i], starts[i] + length)
    of the memory-mapped (total, channels) array, transposed and copied (float16, C order).
    Indexing by an int gives one sample; by a slice or an integer array, a stacked batch.
    Pickles as its file name and starts (DataLoader workers reopen the memmap)."""

    def __init__(self, path: str | os.PathLike, starts: np.ndarray, length: int) -> None:
        self.path = str(path)
        self.starts = np.asarray(starts, dtype=np.int64)
        self.length = int(length)
        self._data = np.load(self.path, mmap_mode="r")
        if self._data.ndim != 2:
            raise ValueError(f"{self.path}: a tracks file must be 2-D (time, channels), not {self._data.shape}")
        if len(self.starts) and (self.starts.min() < 0 or self.starts.max() + self.length > len(self._data)):
            raise ValueError(f"{self.path}: index points past the end of the tracks; rerun the feature stage")
        self.dtype = self._data.dtype
        self.shape = (len(self.starts), self._data.shape[1], self.length)
        self.ndim = 3

    def __len__(self) -> int:
        return len(self.starts)

    def _one(self, i: int) -> np.ndarray:
        s = int(self.starts[i])
        return np.ascontiguousarray(self._data[s:s + self.length].T)

    def __getitem__(self, idx: Any) -> np.ndarray:
        if isinstance(idx, (int, np.integer)):
            return self._one(int(idx))
        rows = np.arange(len(self))[idx] if isinstance(idx, slice) else np.asarray(idx)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        out = np.empty((len(rows), *self.shape[1:]), dtype=self.dtype)
        for k, i in enumerate(rows.tolist()):
            out[k] = self._one(i)
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "starts": self.starts, "length": self.length}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["starts"], state["length"])  # type: ignore[misc]


def open_array(root: str | os.PathLike, split: str,
               expected_ids: np.ndarray | None = None) -> tuple[np.ndarray | TrackArray, np.ndarray]:
    """Memory-mapped (n, ...) array (a TrackArray for tracks) and its sample ids; checks them
    against `expected_ids`."""
    root = Path(root)
    index = pq.read_table(index_path(root, split))
    ids = index.column("sample_id").to_numpy().astype(np.int64)
    meta = index.schema.metadata or {}
    arr: np.ndarray | TrackArray
    if "start" in index.column_names:
        if TRACK_LENGTH_KEY not in meta:
            raise ValueError(f"{index_path(root, split)}: tracks index without its window length; rerun the feature stage")
        arr = TrackArray(array_path(root, split), index.column("start").to_numpy(), int(meta[TRACK_LENGTH_KEY]))
    else:
        arr = np.load(array_path(root, split), mmap_mode="r")
    if len(ids) != len(arr):
        raise ValueError(f"{array_path(root, split)}: {len(arr)} rows but index has {len(ids)}; rerun the feature stage")
    _check_ids(ids, expected_ids, root, split)
    return arr, ids


def read_table(root: str | os.PathLike, split: str, expected_ids: np.ndarray | None = None) -> pd.DataFrame:
    root = Path(root)
    df = pd.read_parquet(table_path(root, split))
    _check_ids(df["sample_id"].to_numpy(np.int64), expected_ids, root, split)
    return df


def _check_ids(ids: np.ndarray, expected: np.ndarray | None, root: Path, split: str) -> None:
    if expected is not None and not np.array_equal(ids, np.asarray(expected, dtype=np.int64)):
        raise ValueError(f"{root}/{split}: feature rows do not match the prepared {split} table "
                         "(different samples or order); rerun `dvc repro` for the feature stage")


def read_config(root: str | os.PathLike) -> dict[str, Any]:
    return json.loads((Path(root) / "config.json").read_text())


def write_config(root: str | os.PathLike, config: dict[str, Any]) -> None:
    write_json(config, Path(root) / "config.json")


def write_index(root: str | os.PathLike, split: str, sample_ids: np.ndarray) -> None:
    write_parquet(pd.DataFrame({"sample_id": np.asarray(sample_ids, dtype=np.int64)}), index_path(Path(root), split))


def write_track_index(root: str | os.PathLike, split: str, sample_ids: np.ndarray, starts: np.ndarray,
                      length: int) -> None:
    """Index of a tracks file: sample_id, start (row of the sample's window); length in the metadata."""
    table = pa.table({"sample_id": np.asarray(sample_ids, dtype=np.int64), "start": np.asarray(starts, dtype=np.int64)})
    table = table.replace_schema_metadata({TRACK_LENGTH_KEY: str(int(length)).encode()})
    with atomic_path(index_path(Path(root), split)) as tmp:
        pq.write_table(table, tmp)


class ArrayWriter:
    """Streams rows into a .npy memmap under a temporary name; `close()` renames it into place."""

    def __init__(self, root: str | os.PathLike, split: str, shape: tuple[int, ...], dtype: Any = np.float16) -> None:
        self.path = array_path(Path(root), split)
        self._ctx = atomic_path(self.path, suffix=".npy")
        tmp = self._ctx.__enter__()
        self.array = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)

    def __setitem__(self, idx: Any, value: np.ndarray) -> None:
        self.array[idx] = value

    def close(self) -> None:
        self.array.flush()
        del self.array
        self._ctx.__exit__(None, None, None)

    def abort(self) -> None:
        del self.array
        self._ctx.__exit__(RuntimeError, RuntimeError("aborted"), None)
