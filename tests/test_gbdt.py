"""The GBDT family (hms.train.gbdt, hms/models/lgbm.py, catboost.py): the soft-label losses, the two
training stages, early stopping on the real validation KL, multi-threaded determinism and feature
importance. What every model shares (folds, cache, prediction) is tested in tests/test_models.py."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from catboost import CatBoostClassifier, Pool
from scipy.special import log_softmax, softmax

from hms.data.targets import TARGET_COLS
from hms.metrics import kl_divergence
from hms.models.registry import get_spec
from hms.params import ConfigError
from hms.prior import prior_oof
from hms.train.gbdt.config import GbdtConfig
from hms.train.gbdt.data import FoldData
from hms.train.gbdt.softlabel import (expand_soft_labels, soft_cross_entropy, softmax_ce_grad_hess,
                                      softmax_ce_objective, vote_weights)
from hms.train.gbdt.stages import hq_rows
from tests import modelkit

MODELS = ("lgbm", "catboost")


def _soft_targets(rng: np.random.Generator, n: int) -> np.ndarray:
    y = rng.random((n, 6)) * (rng.random((n, 6)) < 0.6)  # sparse, like real votes
    y[np.arange(n), rng.integers(0, 6, n)] += 0.5
    return y / y.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------- the soft-label losses

def test_lightgbm_objective_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(0)
    y, z, w = _soft_targets(rng, 7), rng.normal(size=(7, 6)), rng.uniform(0.2, 2.0, 7)

    def total(zz: np.ndarray) -> float:  # the objective LightGBM minimises: sum_i w_i CE_i
        return float((w * -(y * log_softmax(zz, axis=1)).sum(axis=1)).sum())

    class FakeDataset:  # what LightGBM hands a custom objective
        def get_weight(self) -> np.ndarray:
            return w

    grad, hess = softmax_ce_objective(y)(z, FakeDataset())
    assert np.allclose(grad, softmax_ce_grad_hess(y, z, w)[0])
    eps = 1e-6
    num_grad, num_hess = np.zeros_like(z), np.zeros_like(z)
    for i in range(z.shape[0]):
        for k in range(z.shape[1]):
            dz = np.zeros_like(z)
            dz[i, k] = eps
            num_grad[i, k] = (total(z + dz) - total(z - dz)) / (2 * eps)
            # Diagonal second derivative from the analytic gradient.
            num_hess[i, k] = (softmax_ce_grad_hess(y, z + dz, w)[0][i, k] - softmax_ce_grad_hess(y, z - dz, w)[0][i, k]) / (2 * eps)
    np.testing.assert_allclose(grad, num_grad, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(hess, num_hess, rtol=1e-5, atol=1e-7)
    # Zero gradient exactly at softmax(z) = y: the minimiser is the target distribution.
    assert np.allclose(softmax_ce_grad_hess(y, np.log(y + 1e-300), w)[0], 0, atol=1e-12)


def test_row_expansion_weighted_multiclass_loss_equals_soft_cross_entropy() -> None:
    rng = np.random.default_rng(1)
    y, z, w = _soft_targets(rng, 50), rng.normal(size=(50, 6)), rng.uniform(0.2, 2.0, 50)
    x = rng.normal(size=(50, 3))
    xe, label, we, rows = expand_soft_labels(x, y, w)
    assert len(xe) == (y > 0).sum() and np.array_equal(xe, x[rows])
    assert np.allclose(np.bincount(rows, weights=we), w)  # a row's copies carry its whole weight
    expanded = float((we * -log_softmax(z[rows], axis=1)[np.arange(len(rows)), label]).sum() / we.sum())
    assert expanded == pytest.approx(soft_cross_entropy(y, z, w), rel=1e-12)
    # ... and differs from the KL only by the targets' entropy.
    assert soft_cross_entropy(y, z) - kl_divergence(y, softmax(z, axis=1)) == pytest.approx(
        float(-(y * np.log(np.where(y > 0, y, 1))).sum(axis=1).mean()), rel=1e-9)


def test_catboost_multiclass_on_expanded_set_is_the_soft_cross_entropy() -> None:
    """CatBoost's weighted MultiClass metric on the expanded eval set (what early stopping watches)
    equals our soft cross-entropy of its own predictions."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(160, 5)).astype(np.float32)
    y = softmax(2 * x @ rng.normal(size=(5, 6)), axis=1)
    xe, le, we, _ = expand_soft_labels(x[:120], y[:120])
    xv, lv, wv, _ = expand_soft_labels(x[120:], y[120:])
    model = CatBoostClassifier(loss_function="MultiClass", eval_metric="MultiClass", classes_count=6, iterations=20,
                               depth=3, random_seed=0, thread_count=1, use_best_model=False, verbose=False,
                               allow_writing_files=False)
    model.fit(Pool(xe, le, weight=we), eval_set=Pool(xv, lv, weight=wv))
    reported = model.get_evals_result()["validation"]["MultiClass"][-1]
    ours = soft_cross_entropy(y[120:], model.predict(x[120:], prediction_type="RawFormulaVal"))
    assert reported == pytest.approx(ours, rel=1e-6)


def test_vote_weights() -> None:
    n = np.array([1, 3, 10, 20])
    assert np.allclose(vote_weights(n, 0.0, 10), 1.0)
    assert np.allclose(vote_weights(n, 1.0, 10), [0.1, 0.3, 1.0, 1.0])
    assert np.allclose(vote_weights(n, 0.5, 10), np.sqrt([0.1, 0.3, 1.0, 1.0]))
    with pytest.raises(ValueError, match="no votes"):
        vote_weights(np.array([3, 0]), 0.5, 10)


def test_hq_rows_use_only_hq_eegs_of_the_training_part() -> None:
    hq_t, hq_v = np.array([True, False, True]), np.array([False, True])
    data = FoldData(0, np.zeros((3, 1)), np.eye(6)[:3], np.ones(3), hq_t, np.zeros((2, 1)), np.eye(6)[:2], hq_v)
    tr, va, reason = hq_rows(GbdtConfig(), data)
    assert tr.tolist() == [0, 2] and va.tolist() == [1] and reason == ""
    assert hq_rows(GbdtConfig(hq_valid="all"), data)[1].tolist() == [0, 1]
    assert hq_rows(GbdtConfig(hq_stage=False), data)[0] is None
    data.hq_valid = np.array([False, False])
    assert hq_rows(GbdtConfig(), data)[2].startswith("skipped")


def test_params_blocks_are_strict(tiny_params: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="num_leavs"):
        get_spec("lgbm").config(tiny_params["gbdt"], {**tiny_params["lgbm"], "num_leavs": 3})
    with pytest.raises(ConfigError, match="rsm"):
        get_spec("catboost").config(tiny_params["gbdt"], {**tiny_params["catboost"], "device": "gpu", "rsm": 0.5})
    with pytest.raises(ConfigError, match="hq_valid"):
        get_spec("lgbm").config({"hq_valid": "some"}, {})
    with pytest.raises(ConfigError, match="lgbm.boosting must be gbdt or dart"):
        get_spec("lgbm").config({}, {"boosting": "goss"})
    with pytest.raises(ConfigError, match="lgbm.drop_rate"):
        get_spec("lgbm").config({}, {"drop_rate": 0.0})


# ---------------------------------------------------------------- on a learnable toy table

@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory):
    return modelkit.toy_inputs("tabular", tmp_path_factory.mktemp("toyfeat"))


@pytest.mark.parametrize("name", MODELS)
def test_learns_and_writes_importance(name: str, toy, tiny_params: dict[str, Any], tmp_path: Path) -> None:
    train = toy[0]
    result = modelkit.fit(name, tiny_params, toy, tmp_path)
    y = train[list(TARGET_COLS)].to_numpy()
    assert kl_divergence(y, result.oof) < 0.9 * kl_divergence(y, prior_oof(train))  # learns this table
    model_dir = tmp_path / "models" / name
    imp = pd.read_csv(model_dir / "importance.csv")
    columns = [c for c in pd.read_parquet(toy[2] / "train.parquet").columns if c != "sample_id"]
    assert set(imp["feature"]) == set(columns) and imp["importance"].sum() == pytest.approx(1.0)
    assert (model_dir / "importance.png").stat().st_size > 1000
    curve = result.curves[(result.curves["fold"] == 0) & (result.curves["metric"] == "valid_kl")]
    assert len(curve) >= result.folds["0"]["info"]["best_iteration"]


@pytest.mark.parametrize("name", MODELS)
def test_reported_validation_kl_is_the_saved_models_kl(name: str, toy, tiny_params: dict[str, Any], tmp_path: Path) -> None:
    """Early stopping watches the real validation KL: without stage 2, the fold's reported best KL is the
    KL of its saved model on its validation fold."""
    train = toy[0]
    params = copy.deepcopy(tiny_params)
    params["gbdt"]["hq_stage"] = False
    result = modelkit.fit(name, params, toy, tmp_path)
    y, folds = train[list(TARGET_COLS)].to_numpy(), train["fold"].to_numpy()
    for k, fold in result.folds.items():
        info, valid = fold["info"], folds == int(k)
        assert info["hq_stage"] == "off" and info["hq_rounds"] == 0
        assert info["valid_kl"] == pytest.approx(kl_divergence(y[valid], result.oof[valid]), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("name", MODELS)
def test_multithreaded_training_is_reproducible(name: str, toy, tiny_params: dict[str, Any], tmp_path: Path) -> None:
    params = copy.deepcopy(tiny_params)
    params[name]["threads"] = 2  # the default
    params["gbdt"]["hq_stage"] = False  # keeps the test short; stage 2 runs the same code path
    one, two = modelkit.fit(name, params, toy, tmp_path / "a"), modelkit.fit(name, params, toy, tmp_path / "b")
    assert np.array_equal(one.oof, two.oof) and np.array_equal(one.test, two.test)


@pytest.mark.parametrize("boosting", ["dart", "gbdt"])
def test_lgbm_boosting_modes(boosting: str, toy, tiny_params: dict[str, Any], tmp_path: Path) -> None:
    """dart trains exactly num_boost_round rounds and has no stage 2 (no best round to keep); gbdt stops
    early_stopping_rounds after its best round (or at num_boost_round) and runs stage 2."""
    params = copy.deepcopy(tiny_params)
    params["lgbm"].update(boosting=boosting, num_boost_round=40, early_stopping_rounds=5)
    result = modelkit.fit("lgbm", params, toy, tmp_path)
    for k, fold in result.folds.items():
        info = fold["info"]
        curve = result.curves[(result.curves["fold"] == int(k)) & (result.curves["metric"] == "valid_kl")]
        if boosting == "dart":
            assert info["best_iteration"] == len(curve) == 40
            assert info["hq_stage"] == "skipped: lgbm.boosting is dart (no best round to keep)"
        else:
            assert len(curve) in (40, info["best_iteration"] + 5)
            assert info["hq_stage"] in ("kept", "no gain")


def test_lgbm_dart_is_reproducible(toy, tiny_params: dict[str, Any], tmp_path: Path) -> None:
    """LightGBM's DART reads an uninitialised flag before its first round (hms/models/lgbm.py `_settle_dart`):
    without the fix about half of these fits differed from the first."""
    params = copy.deepcopy(tiny_params)
    params["lgbm"].update(boosting="dart", threads=1)
    first = modelkit.fit("lgbm", params, toy, tmp_path / "0")
    for i in range(1, 6):
        again = modelkit.fit("lgbm", params, toy, tmp_path / str(i))
        assert np.array_equal(first.oof, again.oof) and np.array_equal(first.test, again.test), i


def test_prediction_refuses_features_without_the_training_columns(toy, tiny_params, tmp_path: Path) -> None:
    from hms.models.trained import load_trained

    modelkit.fit("lgbm", tiny_params, toy, tmp_path)
    trained = load_trained(tmp_path / "models", "lgbm")
    table = pd.read_parquet(toy[2] / "test.parquet")
    with pytest.raises(ValueError, match="f003"):
        trained.predict(table.drop(columns=["f003"]))
    with pytest.raises(ValueError, match="inputs of shape"):
        trained.predict(table.drop(columns=["sample_id", "f003"]).to_numpy(np.float32))
