"""submission.csv: made in sample_submission's format, and validation errors that say what is wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hms.constants import SUBMISSION_COLUMNS, VOTE_COLS
from hms.data.errors import DataError
from hms.submission import SUBMISSION_FLOOR, load_sample_submission, make_submission, validate_submission, write_submission


@pytest.fixture()
def sample() -> pd.DataFrame:
    df = pd.DataFrame({"eeg_id": [30, 10, 20]})
    df[list(VOTE_COLS)] = 1 / 6
    return df


@pytest.fixture()
def good(sample: pd.DataFrame) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    df = sample[["eeg_id"]].copy()
    df[list(VOTE_COLS)] = rng.dirichlet(np.ones(6), 3)
    return df


def test_make_submission_orders_floors_and_renormalises(sample: pd.DataFrame) -> None:
    preds = pd.DataFrame({"eeg_id": [10, 20, 30]})  # sorted by id, as prediction files are
    preds[list(VOTE_COLS)] = [[1, 0, 0, 0, 0, 0], [0.5, 0.5, 0, 0, 0, 0], [0.1] * 5 + [0.5]]
    sub = make_submission(preds, sample)
    assert list(sub.columns) == list(SUBMISSION_COLUMNS) and sub["eeg_id"].tolist() == [30, 10, 20]
    p = sub[list(VOTE_COLS)].to_numpy()
    assert (p > 0).all() and np.abs(p.sum(1) - 1).max() < 1e-12
    assert p[1, 1] == pytest.approx(SUBMISSION_FLOOR / (1 + 5 * SUBMISSION_FLOOR))
    np.testing.assert_allclose(p[0], [0.1] * 5 + [0.5])  # rows above the floor are untouched


def test_make_submission_rejects_missing_and_extra_predictions(sample: pd.DataFrame, good: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"no prediction for 1 eeg_id\(s\) of sample_submission\.csv, e\.g\. \[20\]"):
        make_submission(good[good["eeg_id"] != 20], sample)
    extra = pd.concat([good, good.iloc[[0]].assign(eeg_id=99)])
    with pytest.raises(DataError, match=r"1 eeg_id\(s\) not in sample_submission\.csv, e\.g\. \[99\]"):
        make_submission(extra, sample)


def test_valid_submission_passes(sample: pd.DataFrame, good: pd.DataFrame) -> None:
    validate_submission(good, sample)


def test_rejects_wrong_column_order(sample: pd.DataFrame, good: pd.DataFrame) -> None:
    cols = ["eeg_id", "lpd_vote", "seizure_vote", *VOTE_COLS[2:]]
    with pytest.raises(DataError, match=r"submission: wrong column order \(expected \['eeg_id', 'seizure_vote', .*found \['eeg_id', 'lpd_vote', 'seizure_vote'"):
        validate_submission(good[cols], sample)
    with pytest.raises(DataError, match=r"wrong columns \(missing \['other_vote'\], unexpected \[\]\)"):
        validate_submission(good.drop(columns="other_vote"), sample)


def test_rejects_missing_duplicate_extra_and_misordered_eeg_ids(sample: pd.DataFrame, good: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"submission, column 'eeg_id': missing eeg_id\(s\) \[10\]"):
        validate_submission(good[good["eeg_id"] != 10], sample)
    with pytest.raises(DataError, match=r"submission, row 3, column 'eeg_id': duplicate eeg_id 30"):
        validate_submission(pd.concat([good, good.iloc[[0]]], ignore_index=True), sample)
    with pytest.raises(DataError, match=r"row 3, column 'eeg_id': eeg_id 77 is not in sample_submission\.csv"):
        validate_submission(pd.concat([good, good.iloc[[0]].assign(eeg_id=77)], ignore_index=True), sample)
    with pytest.raises(DataError, match=r"row 0, column 'eeg_id': rows are not in sample_submission\.csv's order \(expected 30, found 10\)"):
        validate_submission(good.sort_values("eeg_id"), sample)


def test_rejects_nan_negative_zero_and_rows_not_summing_to_one(sample: pd.DataFrame, good: pd.DataFrame) -> None:
    bad = good.copy()
    bad.loc[2, "gpd_vote"] = np.nan
    with pytest.raises(DataError, match=r"submission, row 2, column 'gpd_vote': NaN probability \(eeg_id 20\)"):
        validate_submission(bad, sample)
    bad = good.copy()
    bad.loc[1, "other_vote"] = -0.1
    with pytest.raises(DataError, match=r"row 1, column 'other_vote': negative probability \(eeg_id 10\)"):
        validate_submission(bad, sample)
    bad = good.copy()
    bad.loc[0, list(VOTE_COLS)] = [0.5, 0.5, 0, 0, 0, 0]
    with pytest.raises(DataError, match=r"row 0, column 'gpd_vote': zero probability \(eeg_id 30\).*floor probabilities"):
        validate_submission(bad, sample)
    bad = good.copy()
    bad.loc[1, list(VOTE_COLS)] = [0.2] * 6
    with pytest.raises(DataError, match=r"row 1, column 'seizure_vote,.*': row does not sum to 1 \(eeg_id 10\) \(expected 1 ± 1e-06, found 1\.200000000\)"):
        validate_submission(bad, sample)
    bad = good.copy()
    bad["lrda_vote"] = bad["lrda_vote"].astype(str)
    with pytest.raises(DataError, match=r"column 'lrda_vote': not a number"):
        validate_submission(bad, sample)


def test_write_submission_round_trips_exactly(tmp_path: Path, kaggle_sample: Path) -> None:
    sample = load_sample_submission(kaggle_sample)
    preds = sample[["eeg_id"]].copy()
    preds[list(VOTE_COLS)] = [[0.1, 0.2, 0.3, 0.15, 0.05, 0.2]]
    out = write_submission(make_submission(preds, sample), sample, tmp_path / "submission.csv")
    back = pd.read_csv(out)
    validate_submission(back, sample)
    np.testing.assert_array_equal(back[list(VOTE_COLS)].to_numpy(), make_submission(preds, sample)[list(VOTE_COLS)].to_numpy())
