"""Targets, per-eeg / per-row aggregation, tiers and patient-grouped folds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hms.constants import VOTE_COLS
from hms.data.folds import assign_folds
from hms.data.targets import TARGET_COLS, make_samples, votes_to_targets
from tests.datadir import train_rows


def test_votes_to_targets() -> None:
    t = votes_to_targets(np.array([[3, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 2]]))
    assert np.allclose(t, [[0.75, 0, 0, 0, 0, 0.25], [0, 0, 0, 0, 0, 1]])
    with pytest.raises(ValueError, match="no votes"):
        votes_to_targets(np.zeros((1, 6)))


def test_eeg_aggregation_sums_votes_and_uses_first_window() -> None:
    train = train_rows()
    train.loc[1, "lpd_vote"] = 12  # eeg 101's second row: 12 lpd + 3 seizure = 15 annotators
    s = make_samples(train.sample(frac=1, random_state=0), "eeg")  # input order must not matter
    assert s["sample_id"].tolist() == [101, 102, 103, 104]
    row = s.iloc[0]
    assert row["seizure_vote"] == 6 and row["lpd_vote"] == 12
    assert row["n_votes"] == 15 and row["tier"] == "hq" and row["n_rows"] == 2
    assert row["eeg_offset"] == 0.0 and row["spec_offset"] == 20.0
    assert row["consensus"] == "LPD"
    assert np.allclose(s[list(TARGET_COLS)].sum(axis=1), 1)
    assert s.loc[1, "tier"] == "lq"


def test_row_aggregation() -> None:
    s = make_samples(train_rows(), "row")
    assert len(s) == 8 and s["sample_id"].is_unique
    assert set(s["eeg_offset"]) == {0.0, 10.0}
    with pytest.raises(ValueError, match="aggregation"):
        make_samples(train_rows(), "patient")  # type: ignore[arg-type]


def _samples(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"patient_id": rng.integers(0, 60, n),
                         "consensus": rng.choice(["Seizure", "LPD", "Other"], n)})


def test_folds_group_patients_and_are_seeded() -> None:
    s = _samples()
    f = assign_folds(s, 5, seed=1)
    assert set(f) == set(range(5))
    assert (s.assign(fold=f).groupby("patient_id")["fold"].nunique() == 1).all()
    assert np.array_equal(f, assign_folds(s, 5, seed=1))
    assert not np.array_equal(f, assign_folds(s, 5, seed=2))


def test_too_few_patients() -> None:
    with pytest.raises(ValueError, match="only 3 patients"):
        assign_folds(pd.DataFrame({"patient_id": [1, 2, 3], "consensus": ["Other"] * 3}), 5, seed=0)


def test_vote_columns_are_submission_order() -> None:
    assert VOTE_COLS == ("seizure_vote", "lpd_vote", "gpd_vote", "lrda_vote", "grda_vote", "other_vote")
