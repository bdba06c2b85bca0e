"""Schema checks for every file of the Kaggle layout. Each check raises a DataError that names
the file, the row and the column at fault, what was expected and what was found."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from hms.constants import (
    CONSENSUS, EEG_CHANNELS, SPEC_COLUMNS, SUBMISSION_COLUMNS, TEST_COLUMNS, TRAIN_COLUMNS,
    VOTE_COLS,
)
from hms.data.errors import DataError, data_dir_hint

_INT_COLS = {"eeg_id", "eeg_sub_id", "spectrogram_id", "spectrogram_sub_id", "label_id", "patient_id", *VOTE_COLS}
_FLOAT_COLS = {"eeg_label_offset_seconds", "spectrogram_label_offset_seconds"}
PARQUET_MAGIC = b"PAR1"


def read_csv_checked(path: str | os.PathLike, columns: tuple[str, ...], probabilities: bool = False) -> pd.DataFrame:
    """Read a contract CSV and check its columns (names and order) and dtypes.
    `probabilities`: the vote columns hold probabilities (sample_submission), not counts."""
    path = Path(path)
    check_is_file(path, hint=data_dir_hint(path.parent))
    try:
        df = pd.read_csv(path)
    except pd.errors.EmptyDataError as exc:
        raise DataError(path, "empty file (no header, no rows)", expected=f"a header {list(columns)} and rows",
                        found="0 bytes or only blank lines") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(path, f"not a readable CSV: {exc}") from exc
    found = tuple(df.columns)
    missing = [c for c in columns if c not in found]
    if missing:
        raise DataError(path, f"missing column(s) {missing}", column=missing[0],
                        expected=list(columns), found=list(found))
    if found != columns:
        extra = [c for c in found if c not in columns]
        raise DataError(path, "columns differ from the Kaggle layout" + (f": unexpected {extra}" if extra else ": wrong order"),
                        expected=list(columns), found=list(found))
    if df.empty:
        # Checked before the dtypes: a header-only CSV reads as object columns, and "not an
        # integer (found object)" would point at the wrong problem.
        raise DataError(path, "has no rows (a header only)", hint=f"{path.name} needs at least one row")
    for col in columns:
        _check_dtype(df, col, path, probabilities)
    return df


def check_is_file(path: Path, hint: str | None = None) -> None:
    """A clear DataError unless `path` is a regular file: 'is a directory' or 'file not found'."""
    if path.is_file():
        return
    if path.is_dir():
        raise DataError(path, "is a directory, not a file", hint=f"put the {path.name} file itself at this path")
    raise DataError(path, "file not found", hint=hint)


def _check_dtype(df: pd.DataFrame, col: str, path: Path, probabilities: bool) -> None:
    s = df[col]
    float_cols = _FLOAT_COLS | (set(VOTE_COLS) if probabilities else set())
    if col in _INT_COLS and col not in float_cols:
        if not pd.api.types.is_integer_dtype(s):
            bad = _first_bad(s, lambda v: pd.isna(v) or float(v) != int(float(v)))
            raise DataError(path, "not an integer", row=bad, column=col, expected="int64",
                            found=_shown(s.iloc[bad]) if bad is not None else s.dtype)
    elif col in float_cols:
        if not pd.api.types.is_numeric_dtype(s) or s.isna().any():
            bad = _first_bad(s, lambda v: pd.isna(pd.to_numeric(v, errors="coerce")))
            raise DataError(path, "not a number", row=bad, column=col, expected="float64",
                            found=_shown(s.iloc[bad]) if bad is not None else s.dtype)
    elif col == "expert_consensus":
        bad_mask = ~s.isin(CONSENSUS)
        if bad_mask.any():
            bad = int(np.flatnonzero(bad_mask.to_numpy())[0])
            raise DataError(path, "unknown consensus label", row=bad, column=col,
                            expected=list(CONSENSUS), found=repr(s.iloc[bad]))


def _shown(value: object) -> str:
    """A cell as the user typed it: 'abc', 2.5, or 'an empty cell' (pandas reads empty, NA, n/a... as NaN)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return "an empty cell (or NA/NaN)"
    return repr(value)


def _first_bad(s: pd.Series, is_bad) -> int | None:
    for i, v in enumerate(s.tolist()):
        try:
            if is_bad(v):
                return i
        except (TypeError, ValueError):
            return i
    return None


def validate_train_table(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Value checks of train.csv beyond dtypes: votes and offsets."""
    votes = df[list(VOTE_COLS)].to_numpy()
    neg = np.argwhere(votes < 0)
    if len(neg):
        r, c = neg[0]
        raise DataError(path, "negative vote count", row=int(r), column=VOTE_COLS[c],
                        expected=">= 0", found=int(votes[r, c]))
    zero = np.flatnonzero(votes.sum(axis=1) == 0)
    if len(zero):
        raise DataError(path, "all six vote counts are zero, so the row has no target", row=int(zero[0]),
                        column="seizure_vote..other_vote", hint="drop the row or fix its votes")
    for col in ("eeg_label_offset_seconds", "spectrogram_label_offset_seconds"):
        neg_off = np.flatnonzero(df[col].to_numpy() < 0)
        if len(neg_off):
            raise DataError(path, "negative offset", row=int(neg_off[0]), column=col,
                            expected=">= 0", found=float(df[col].iloc[neg_off[0]]))


def read_train_csv(path: str | os.PathLike) -> pd.DataFrame:
    from hms.data.checks import check_train_rows  # checks builds on this module's readers

    df = read_csv_checked(path, TRAIN_COLUMNS)
    validate_train_table(df, path)
    check_train_rows(df, path)
    return df


def read_test_csv(path: str | os.PathLike) -> pd.DataFrame:
    return read_csv_checked(path, TEST_COLUMNS)


def read_sample_submission(path: str | os.PathLike) -> pd.DataFrame:
    return read_csv_checked(path, SUBMISSION_COLUMNS, probabilities=True)


def parquet_file(path: str | os.PathLike) -> pq.ParquetFile:
    """Open a parquet file, with a clear error for a missing file or one that is not parquet."""
    path = Path(path)
    check_is_file(path, hint="every eeg_id/spectrogram_id in the CSV needs its parquet file")
    with open(path, "rb") as fh:
        head = fh.read(4)
        fh.seek(-4 if path.stat().st_size >= 8 else 0, os.SEEK_END)
        tail = fh.read(4)
    if head != PARQUET_MAGIC or tail != PARQUET_MAGIC:
        raise DataError(path, "not a parquet file (no PAR1 magic bytes)", hint="re-download or re-extract it")
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(path, f"unreadable parquet: {exc}") from exc


def check_eeg_schema(pf: pq.ParquetFile, path: str | os.PathLike) -> None:
    schema = pf.schema_arrow
    names = tuple(schema.names)
    if names != EEG_CHANNELS:
        missing = [c for c in EEG_CHANNELS if c not in names]
        raise DataError(path, "EEG columns differ from the Kaggle layout" + (f", missing {missing}" if missing else ""),
                        column=missing[0] if missing else None, expected=list(EEG_CHANNELS), found=list(names))
    for field in schema:
        if not pa.types.is_floating(field.type):
            raise DataError(path, "EEG column is not floating point", column=field.name,
                            expected="float32", found=str(field.type))


def check_spectrogram_schema(pf: pq.ParquetFile, path: str | os.PathLike) -> None:
    schema = pf.schema_arrow
    names = tuple(schema.names)
    if names != SPEC_COLUMNS:
        missing = [c for c in SPEC_COLUMNS if c not in names]
        raise DataError(path, "spectrogram columns differ from the Kaggle layout" + (f", missing {missing[:3]}" if missing else ""),
                        column=missing[0] if missing else None,
                        expected="time, LL_0.59 .. RP_19.92 (401 columns)", found=f"{len(names)} columns starting {list(names[:3])}")
    if not pa.types.is_integer(schema.field("time").type):
        raise DataError(path, "spectrogram time is not an integer", column="time",
                        expected="any integer dtype", found=str(schema.field("time").type))
    for field in list(schema)[1:]:
        if not pa.types.is_floating(field.type):
            raise DataError(path, "spectrogram column is not floating point", column=field.name,
                            expected="float32", found=str(field.type))


def check_spectrogram_time(time: np.ndarray, path: str | os.PathLike) -> None:
    """Windows are found by searching `time`, so it must be strictly increasing (odd seconds in
    Kaggle files); a repeated or backwards time would silently pick the wrong rows."""
    if len(time) > 1:
        bad = np.flatnonzero(np.diff(time) <= 0)
        if len(bad):
            r = int(bad[0]) + 1
            raise DataError(path, "spectrogram time is not strictly increasing", row=r, column="time",
                            expected=f"> {int(time[r - 1])} (the time of row {r - 1})", found=int(time[r]),
                            hint="sort the rows by time and drop repeated times")
