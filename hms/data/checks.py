"""Table-level checks: rules across rows and across files that a per-column dtype check cannot see.

Each failure is a DataError naming the file, the row (0-based data row, header not counted, as
everywhere in hms.data) and the column. They run in `prepare` (so a bad table stops `dvc repro`
before any feature or training work), in `hms validate` and in `hms predict`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from hms.data.errors import DataError, data_dir_hint


def check_data_dir(root: str | os.PathLike) -> None:
    """The data directory exists and is a directory."""
    root = Path(root)
    if root.is_dir():
        return
    if root.exists():
        raise DataError(root, "is a file, not a data directory", hint=data_dir_hint(root))
    raise DataError(root, "data directory not found", hint=data_dir_hint(root))


def _first_duplicate(df: pd.DataFrame, cols: list[str]) -> tuple[int, int] | None:
    """(row of the first occurrence, row of its first repeat) of a duplicated key, or None."""
    dup = df.duplicated(cols, keep="first").to_numpy()
    if not dup.any():
        return None
    r = int(np.flatnonzero(dup)[0])
    key = df.iloc[r][cols]
    same = (df[cols] == key.to_numpy()).all(axis=1).to_numpy()
    return int(np.flatnonzero(same)[0]), r


def _n_repeats(df: pd.DataFrame, cols: list[str]) -> str:
    n = int(df.duplicated(cols, keep="first").sum())
    return f" ({n} repeated rows in all)" if n > 1 else ""


def check_train_rows(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """train.csv: label_id unique (a repeated row would count its votes twice), (eeg_id,
    eeg_sub_id) unique, and one patient_id per eeg_id (two would put one eeg in two folds)."""
    hit = _first_duplicate(df, ["label_id"])
    if hit:
        first, r = hit
        raise DataError(path, f"duplicate label_id {int(df['label_id'].iloc[r])}, first on row {first}"
                        + _n_repeats(df, ["label_id"]), row=r, column="label_id",
                        hint="each label_id must appear once; a repeated row counts its votes twice")
    hit = _first_duplicate(df, ["eeg_id", "eeg_sub_id"])
    if hit:
        first, r = hit
        raise DataError(path, f"duplicate (eeg_id, eeg_sub_id) = ({int(df['eeg_id'].iloc[r])}, "
                        f"{int(df['eeg_sub_id'].iloc[r])}), first on row {first}" + _n_repeats(df, ["eeg_id", "eeg_sub_id"]),
                        row=r, column="eeg_sub_id", hint="each labelled window of an eeg has its own eeg_sub_id")
    n_patients = df.groupby("eeg_id", sort=False)["patient_id"].nunique()
    mixed = n_patients[n_patients > 1]
    if len(mixed):
        eeg = mixed.index[0]
        rows = df.index[df["eeg_id"].to_numpy() == eeg]
        pats = df.loc[rows, "patient_id"].to_numpy()
        first, other = int(rows[0]), int(rows[np.flatnonzero(pats != pats[0])[0]])
        raise DataError(path, f"eeg_id {int(eeg)} has {int(mixed.iloc[0])} patient_ids: row {first} says "
                        f"{int(pats[0])}, row {other} says {int(df['patient_id'].iloc[other])}"
                        + (f" ({len(mixed)} eeg_ids have several)" if len(mixed) > 1 else ""),
                        row=other, column="patient_id",
                        hint="an eeg belongs to one patient; mixed ids would put it in two folds (a leak)")


def check_test_tables(test: pd.DataFrame, test_path: str | os.PathLike,
                      sub: pd.DataFrame, sub_path: str | os.PathLike) -> None:
    """test.csv lists each eeg_id once, sample_submission.csv too, and both list the same eeg_ids
    (otherwise the submit stage fails after all the training, or a test eeg goes unpredicted)."""
    for df, path, other in ((test, test_path, sub_path), (sub, sub_path, test_path)):
        hit = _first_duplicate(df, ["eeg_id"])
        if hit:
            first, r = hit
            raise DataError(path, f"duplicate eeg_id {int(df['eeg_id'].iloc[r])}, first on row {first}",
                            row=r, column="eeg_id", hint="each test eeg appears once")
    for df, path, other, other_df in ((test, test_path, sub_path, sub), (sub, sub_path, test_path, test)):
        missing = ~df["eeg_id"].isin(other_df["eeg_id"]).to_numpy()
        if missing.any():
            r = int(np.flatnonzero(missing)[0])
            raise DataError(path, f"eeg_id {int(df['eeg_id'].iloc[r])} has no row in {Path(other).name}"
                            + (f" ({int(missing.sum())} eeg_ids in all)" if missing.sum() > 1 else ""),
                            row=r, column="eeg_id",
                            hint="test.csv and sample_submission.csv must list the same eeg_ids")
