"""submission.csv: exactly sample_submission's columns and row order, probabilities that are never
0 and sum to 1. Kaggle clips at 1e-15 without renormalising, so a 0 where an expert voted costs
up to 34.5 nats on that row; we floor at SUBMISSION_FLOOR (costs at most ~6e-6 nats a row) and
renormalise. Validated before it is written, with errors naming the row and column.

Nothing lost: a submission is built and validated completely in memory, then written to a
temporary file that is renamed onto submission.csv (hms.io). So a failed submit (bad predictions,
a sample_submission.csv that does not match them) leaves the previous submission.csv as it was;
`write_new_submission` says so in its error. Under DVC the file survives only if the stage does
not delete it first (`persist: true` on submission.csv; see docs/errors.md)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from hms.constants import SUBMISSION_COLUMNS, VOTE_COLS
from hms.data.contract import read_sample_submission
from hms.data.errors import DataError
from hms.io import write_csv

log = logging.getLogger(__name__)

SUBMISSION_FLOOR = 1e-6
SUM_TOL = 1e-6


def make_submission(preds: pd.DataFrame, sample_submission: pd.DataFrame, floor: float = SUBMISSION_FLOOR,
                    where: str = "test predictions") -> pd.DataFrame:
    """Predictions (eeg_id + the 6 probability columns, any row order) -> a validated submission in
    sample_submission's row order, floored at `floor` and renormalised."""
    missing_cols = [c for c in ("eeg_id", *VOTE_COLS) if c not in preds.columns]
    if missing_cols:
        raise DataError(where, f"missing column(s) {missing_cols}", expected=list(SUBMISSION_COLUMNS), found=list(preds.columns))
    dup = preds["eeg_id"].duplicated()
    if dup.any():
        r = int(np.flatnonzero(dup.to_numpy())[0])
        raise DataError(where, f"duplicate eeg_id {int(preds['eeg_id'].iloc[r])}", row=r, column="eeg_id")
    want = sample_submission["eeg_id"].to_numpy(np.int64)
    have = set(preds["eeg_id"].astype(np.int64))
    missing = [int(e) for e in want if e not in have]
    if missing:
        raise DataError(where, f"no prediction for {len(missing)} eeg_id(s) of sample_submission.csv, e.g. {missing[:3]}",
                        column="eeg_id", hint="predict every test eeg listed in test.csv")
    extra = sorted(have - set(want.tolist()))
    if extra:
        raise DataError(where, f"{len(extra)} eeg_id(s) not in sample_submission.csv, e.g. {extra[:3]}", column="eeg_id",
                        hint="the predictions belong to another test set; rerun the pipeline on this data dir")
    probs = preds.set_index("eeg_id").loc[want, list(VOTE_COLS)].to_numpy(np.float64)
    _check_values(probs, where, want, check_sum=False)
    probs = np.clip(probs, floor, None)
    probs /= probs.sum(axis=1, keepdims=True)
    sub = pd.DataFrame({"eeg_id": want})
    sub[list(VOTE_COLS)] = probs
    sub = sub[list(sample_submission.columns)]
    validate_submission(sub, sample_submission)
    return sub


def validate_submission(df: pd.DataFrame, sample_submission: pd.DataFrame, where: str = "submission") -> None:
    """Raise a DataError naming row and column unless `df` is a valid submission for `sample_submission`:
    same columns in the same order, the same eeg_ids once each in the same order, probabilities
    finite, > 0 and summing to 1 within 1e-6."""
    expected_cols = list(sample_submission.columns)
    if list(df.columns) != expected_cols:
        extra = [c for c in df.columns if c not in expected_cols]
        missing = [c for c in expected_cols if c not in df.columns]
        problem = ("wrong column order" if not extra and not missing
                   else f"wrong columns (missing {missing}, unexpected {extra})")
        raise DataError(where, problem, expected=expected_cols, found=list(df.columns),
                        hint="columns must match sample_submission.csv exactly")
    ids = df["eeg_id"]
    dup = ids.duplicated()
    if dup.any():
        r = int(np.flatnonzero(dup.to_numpy())[0])
        raise DataError(where, f"duplicate eeg_id {ids.iloc[r]}", row=r, column="eeg_id")
    want = sample_submission["eeg_id"].to_numpy(np.int64)
    have_set, want_set = set(ids.tolist()), set(want.tolist())
    missing_ids = [int(e) for e in want if e not in have_set]
    if missing_ids:
        raise DataError(where, f"missing eeg_id(s) {missing_ids[:3]}" + (" ..." if len(missing_ids) > 3 else ""),
                        column="eeg_id", hint="one row per eeg_id of sample_submission.csv")
    extra_ids = [e for e in ids.tolist() if e not in want_set]
    if extra_ids:
        r = int(ids.tolist().index(extra_ids[0]))
        raise DataError(where, f"eeg_id {extra_ids[0]} is not in sample_submission.csv", row=r, column="eeg_id")
    if not np.array_equal(ids.to_numpy(np.int64), want):
        r = int(np.flatnonzero(ids.to_numpy(np.int64) != want)[0])
        raise DataError(where, "rows are not in sample_submission.csv's order", row=r, column="eeg_id",
                        expected=int(want[r]), found=int(ids.iloc[r]))
    probs = df[list(VOTE_COLS)]
    non_numeric = [c for c in VOTE_COLS if not pd.api.types.is_numeric_dtype(probs[c])]
    if non_numeric:
        raise DataError(where, "not a number", column=non_numeric[0], found=str(probs[non_numeric[0]].dtype))
    _check_values(probs.to_numpy(np.float64), where, want, check_sum=True)


def _check_values(probs: np.ndarray, where: str, eeg_ids: np.ndarray, check_sum: bool) -> None:
    def fail(mask: np.ndarray, problem: str, hint: str | None = None) -> None:
        r, c = (int(v) for v in np.argwhere(mask)[0])
        raise DataError(where, f"{problem} (eeg_id {int(eeg_ids[r])})", row=r, column=VOTE_COLS[c],
                        expected="a finite probability > 0", found=repr(float(probs[r, c])), hint=hint)

    if np.isnan(probs).any():
        fail(np.isnan(probs), "NaN probability")
    if np.isinf(probs).any():
        fail(np.isinf(probs), "infinite probability")
    if (probs < 0).any():
        fail(probs < 0, "negative probability")
    if check_sum:
        if (probs == 0).any():
            fail(probs == 0, "zero probability", hint=f"floor probabilities (e.g. at {SUBMISSION_FLOOR:g}) and renormalise")
        err = np.abs(probs.sum(axis=1) - 1)
        if (err > SUM_TOL).any():
            r = int(np.argmax(err))
            raise DataError(where, f"row does not sum to 1 (eeg_id {int(eeg_ids[r])})", row=r,
                            column=",".join(VOTE_COLS), expected=f"1 ± {SUM_TOL:g}", found=f"{probs[r].sum():.9f}")


def write_submission(sub: pd.DataFrame, sample_submission: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Validate again and write atomically; full float precision so reruns compare exactly."""
    validate_submission(sub, sample_submission, where=str(path))
    write_csv(sub, path)
    log.info("wrote %s: %d rows", path, len(sub))
    return Path(path)


def load_sample_submission(data_dir: str | os.PathLike) -> pd.DataFrame:
    """sample_submission.csv of a Kaggle-layout data dir, checked against the data contract."""
    return read_sample_submission(Path(data_dir) / "sample_submission.csv")


def write_new_submission(preds: pd.DataFrame, sample_submission: pd.DataFrame, path: str | os.PathLike,
                         where: str = "test predictions") -> Path:
    """make_submission + write_submission, the one way the submit stage and `hms predict` write
    submission.csv: the file at `path` is replaced only by a valid submission. On failure the
    error says whether the previous file was kept."""
    path = Path(path)
    try:
        sub = make_submission(preds, sample_submission, where=where)
        return write_submission(sub, sample_submission, path)
    except DataError as exc:
        kept = f"the previous {path} is unchanged" if path.is_file() else f"no {path} was written"
        raise exc.with_note(kept) from exc
