"""On-disk feature caches, shared by the feature stages (writers) and the models (readers).

features/<kind>/
  config.json                  the feature params used (copied into each model dir for `hms predict`)
  <split>.npy + <split>_index.parquet   arrays (mosaic, waves): float16, row i <-> sample_id i of the index
  <split>.parquet              tables (tabular): sample_id + one float32 column per feature
  manifest.csv                 tabular only: column, description
Row order = the prepared table's order (sorted by sample_id); readers check the ids.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hms.io import atomic_path, write_json, write_parquet


def array_path(root: Path, split: str) -> Path:
    return Path(root) / f"{split}.npy"


def index_path(root: Path, split: str) -> Path:
    return Path(root) / f"{split}_index.parquet"


def table_path(root: Path, split: str) -> Path:
    return Path(root) / f"{split}.parquet"


def open_array(root: str | os.PathLike, split: str, expected_ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Memory-mapped (n, ...) array and its sample ids; checks them against `expected_ids`."""
    root = Path(root)
    arr = np.load(array_path(root, split), mmap_mode="r")
    ids = pd.read_parquet(index_path(root, split))["sample_id"].to_numpy(np.int64)
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
