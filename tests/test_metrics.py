"""The metric equals Kaggle's: clipping, no renormalisation, zero targets count 0, micro average."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hms.metrics import cv_scores, kl_divergence


def kaggle_reference(solution: np.ndarray, submission: np.ndarray, eps: float = 1e-15) -> float:
    """Kaggle's pandas implementation, transcribed column by column."""
    sol = pd.DataFrame(solution).astype(float)
    sub = pd.DataFrame(np.clip(submission, eps, 1 - eps))
    for col in sol.columns:
        nz = sol[col] != 0
        sol.loc[nz, col] = sol.loc[nz, col] * np.log(sol.loc[nz, col] / sub.loc[nz, col])
        sol.loc[~nz, col] = 0
    return float(np.average(sol.sum(axis=1)))


def test_hand_computed() -> None:
    y = np.array([[1, 0, 0, 0, 0, 0], [0.5, 0.5, 0, 0, 0, 0]])
    p = np.array([[0.5, 0.1, 0.1, 0.1, 0.1, 0.1], [0.25, 0.25, 0.25, 0.25, 0, 0]])
    expected = (np.log(2) + (0.5 * np.log(2) + 0.5 * np.log(2))) / 2
    assert kl_divergence(y, p) == pytest.approx(expected, abs=1e-12)
    assert kl_divergence(y, y) == pytest.approx(0.0, abs=1e-12)


def test_clipping_and_no_renormalisation() -> None:
    y = np.array([[0.5, 0.5, 0, 0, 0, 0]])
    p = np.array([[1.0, 0.0, 0, 0, 0, 0]])  # zero where the target is not
    assert kl_divergence(y, p) == pytest.approx(0.5 * np.log(0.5 / (1 - 1e-15)) + 0.5 * np.log(0.5 / 1e-15))
    # renormalising after clipping would change the value: Kaggle does not
    q = np.array([[0.5, 0.5, 0.5, 0.5, 0.5, 0.5]])
    assert kl_divergence(y, q) == pytest.approx(0.0, abs=1e-12)


def test_zero_targets_count_zero() -> None:
    y = np.array([[0, 0, 1.0, 0, 0, 0]])
    p1 = np.array([[0.1, 0.1, 0.5, 0.1, 0.1, 0.1]])
    p2 = np.array([[0.0, 0.0, 0.5, 0.0, 0.5, 0.0]])
    assert kl_divergence(y, p1) == pytest.approx(kl_divergence(y, p2)) == pytest.approx(np.log(2))


def test_agrees_with_direct_formula_and_kaggle_reference() -> None:
    rng = np.random.default_rng(0)
    votes = rng.integers(0, 5, (500, 6)) * (rng.random((500, 6)) < 0.5)
    votes[votes.sum(1) == 0, 0] = 1
    y = votes / votes.sum(1, keepdims=True)
    p = rng.dirichlet(np.ones(6) * 0.5, 500)
    p[::7, 3] = 0.0
    direct = np.mean(np.sum(np.where(y > 0, y * np.log(np.where(y > 0, y, 1) / np.clip(p, 1e-15, 1 - 1e-15)), 0), axis=1))
    assert kl_divergence(y, p) == pytest.approx(direct, rel=1e-12)
    assert kl_divergence(y, p) == pytest.approx(kaggle_reference(y, p), rel=1e-12)


def test_cv_scores_split_by_tier_and_fold() -> None:
    y = np.eye(6)[[0, 1, 2, 3]]
    p = np.full((4, 6), 1 / 6)
    report = cv_scores(y, p, n_votes=np.array([3, 12, 10, 1]), folds=np.array([0, 0, 1, 1]))
    assert report["kl_all"] == pytest.approx(np.log(6), abs=1e-6)
    assert report["n_hq"] == 2 and report["folds"]["1"]["n_hq"] == 1
    assert set(report["folds"]) == {"0", "1"}


def test_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        kl_divergence(np.ones((2, 6)) / 6, np.ones((3, 6)) / 6)


def _report(fold_kl_hq: list[float | None]) -> dict:
    return {"folds": {str(k): {"kl_hq": v} for k, v in enumerate(fold_kl_hq)}}


def test_outlier_folds_flag_a_fold_that_failed_to_train(caplog: pytest.LogCaptureFixture) -> None:
    from hms.metrics import OUTLIER_FOLD_RATIO, outlier_folds, warn_outlier_folds

    # efficientnet at seed 45: fold 3 stuck at 0.591 while the others trained (docs/neural.md, Seed spread)
    failed = _report([0.2829, 0.3583, 0.4001, 0.5907, 0.2904])
    assert outlier_folds(failed) == {"3": (0.5907, pytest.approx((0.2904 + 0.3583) / 2))}
    # the committed run's folds, and a fold just under the ratio, are not flagged
    assert outlier_folds(_report([0.2787, 0.3288, 0.2934, 0.2934, 0.2793])) == {}
    assert outlier_folds(_report([0.2, 0.2, 0.2, 0.2 * OUTLIER_FOLD_RATIO - 1e-9])) == {}
    assert list(outlier_folds(_report([0.2, 0.2, 0.2, 0.2 * OUTLIER_FOLD_RATIO + 1e-9]))) == ["3"]
    # folds without hq eegs are left out, and two folds have no "others" to compare with
    assert outlier_folds(_report([0.2, None, 0.2, 0.9])) == {"3": (0.9, 0.2)}
    assert outlier_folds(_report([0.2, 0.9])) == {}
    with caplog.at_level("WARNING", logger="hms.metrics"):
        warn_outlier_folds("efficientnet", failed)
    assert "efficientnet fold 3: kl_hq 0.5907 is 1.8x the other folds' median (0.3244)" in caplog.text


def test_cv_scores_report_feeds_outlier_folds() -> None:
    from hms.metrics import outlier_folds

    rng = np.random.default_rng(0)
    y = rng.dirichlet(np.ones(6), 60)
    p = y.copy()
    p[40:] = rng.dirichlet(np.ones(6), 20)  # fold 2 predicts noise
    folds = np.repeat([0, 1, 2], 20)
    report = cv_scores(y, 0.9 * p + 0.1 / 6, np.full(60, 12), folds)
    assert list(outlier_folds(report)) == ["2"]
